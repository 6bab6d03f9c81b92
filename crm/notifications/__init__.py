"""E-mail notifications: rows queued in the saving transaction, sent by Celery after commit (S-21)."""
