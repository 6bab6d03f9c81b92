"""Survey tests import the survey services at collection time, which imports the student models.

`Student.customer` names the sales lead model by string; it must be registered before the
app configures its mappers, as it is when the app imports every area in order.
"""
import crm.sales.models  # noqa: F401
