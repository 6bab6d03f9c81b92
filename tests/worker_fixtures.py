"""Fixtures that run a real Celery worker against real Redis (filled in by the notifications work)."""
