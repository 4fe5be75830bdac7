"""gunicorn settings for volpanel: one ASGI (uvicorn) worker process serves pages and holds the status streams."""

import os

# Streams are long-lived and cheap under the event loop, so one worker per core is plenty; each worker runs
# its own volume watchers (a worker polls Cinder only for the volumes its own viewers watch).
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "uvicorn_worker.UvicornWorker"
# A stream stays open while a volume moves; the worker heartbeat, not the request, is what `timeout` watches.
timeout = 120
graceful_timeout = 20
keepalive = 5
accesslog = "-"
control_socket_disable = True
