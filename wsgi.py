"""WSGI entry point: `gunicorn wsgi:app` and `flask --app wsgi ...`."""
from crm import create_app

app = create_app()
