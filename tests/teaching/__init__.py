"""Teaching tests.

crm.students.models names the lead class of crm.sales by string; importing the
teaching models at collection time (before create_app) must also load it, or
the first mapper configuration cannot resolve it.
"""
import crm.sales.models  # noqa: F401
