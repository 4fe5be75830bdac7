"""ASGI entry point: status streams need it (gunicorn with the uvicorn worker)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volpanel.settings")
application = get_asgi_application()
