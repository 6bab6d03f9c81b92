"""Teaching tests."""
