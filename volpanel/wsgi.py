"""WSGI entry point, for tools that want one; streams need the ASGI one."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volpanel.settings")
application = get_wsgi_application()
