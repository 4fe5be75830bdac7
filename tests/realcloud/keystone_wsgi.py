"""gunicorn entry point for Keystone (tests/realcloud).

Keystone parses sys.argv with oslo.config, so gunicorn's own command-line arguments would make every worker
exit with "unrecognized arguments": clear argv before loading the app. The config file comes from
OS_KEYSTONE_CONFIG_FILES, set by up.sh.
"""
import sys

sys.argv = sys.argv[:1]

from keystone.server.wsgi import initialize_public_application  # noqa: E402

application = initialize_public_application()
