"""The security tests reuse the accounts tests' clients (own address, English interface)."""
from tests.auth.conftest import new_client  # noqa: F401
