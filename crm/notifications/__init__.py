"""E-mail notifications sent by Celery after commit."""
