"""gunicorn settings for volpanel: one ASGI (uvicorn) worker process serves pages and holds the status streams."""

import os
import resource

from volpanel.lib import proxies
from volpanel.logs import logging_config

# Every open status stream is a socket: a soft limit of 1,024 descriptors (a common default) would refuse
# connections near a thousand streams. Lift it to the hard limit here (workers inherit it); to go beyond the
# hard limit, raise it where the process starts (systemd LimitNOFILE=, docker run --ulimit nofile=).
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft < _hard:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))

# Streams are long-lived and cheap under the event loop, so one worker per core is plenty. On PostgreSQL one
# process of the deployment polls each watched volume and the others relay its states (volpanel/volumes/leases.py);
# on SQLite each worker polls Cinder for the volumes its own viewers watch.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# uvicorn's worker with a deadline to read each request (VOLPANEL_REQUEST_READ_TIMEOUT, volpanel/worker.py).
worker_class = "volpanel.worker.Worker"
# A stream stays open while a volume moves; the worker heartbeat, not the request, is what `timeout` watches.
timeout = 120
graceful_timeout = 20
keepalive = 5
# volpanel's middleware writes one access line per request with its request id, user and timing; gunicorn's
# own lines (start, worker boot and exit) use the same format. Django reads the same choice in settings.py.
accesslog = None
_demo = not (os.environ.get("OS_AUTH_URL") or os.environ.get("OS_CLOUD"))
logconfig_dict = logging_config(os.environ.get("VOLPANEL_LOG_FORMAT") or ("text" if _demo else "json"),
                                os.environ.get("VOLPANEL_LOG_LEVEL", "INFO").upper())
control_socket_disable = True
# X-Forwarded-For and -Proto are believed only from the proxies the operator names (volpanel/lib/proxies.py); the
# worker's default would believe them from anyone connecting from 127.0.0.1 or ::1. (settings.py refuses a bad
# value with its reason before a worker serves anything; a gunicorn without Django settings refuses it here.)
forwarded_allow_ips = ",".join(proxies.parse(os.environ.get(proxies.ENV, "")))
