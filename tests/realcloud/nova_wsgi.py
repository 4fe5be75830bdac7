"""gunicorn entry points for nova-api and placement-api (tests/realcloud).

Both parse sys.argv with oslo.config, so gunicorn's own arguments would stop every worker with "unrecognized
arguments": clear argv before loading the app. Their config comes from OS_NOVA_CONFIG_DIR /
OS_PLACEMENT_CONFIG_DIR, set by up.sh. `gunicorn nova_wsgi:compute` or `gunicorn nova_wsgi:placement`.
"""
import sys

sys.argv = sys.argv[:1]


def __getattr__(name):  # load only the app asked for: the two run in separate processes
    if name == "compute":
        from nova.wsgi.osapi_compute import application
        return application
    if name == "placement":
        from placement.wsgi.api import application
        return application
    raise AttributeError(name)
