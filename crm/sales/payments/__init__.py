"""Payments and conversion to students (S-18, S-19)."""
