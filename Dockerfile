# volpanel: a slim image serving the dashboard with gunicorn + the uvicorn (ASGI) worker.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt .
# The runtime part only: the test tools listed after "# Tests" (pytest, Playwright, ...) stay out of the image.
RUN sed '/^# Tests/,$d' requirements.txt > /tmp/runtime.txt \
    && pip install -r /tmp/runtime.txt \
    && rm /tmp/runtime.txt

COPY manage.py ./
COPY volpanel ./volpanel
COPY templates ./templates
COPY static ./static
# collectstatic needs settings that load; demo mode is enough at build time.
RUN python manage.py collectstatic --noinput -v0 \
    && useradd --system --uid 10001 --home /app volpanel \
    && chown -R volpanel /app

# Numeric, so a runtime can tell the image does not run as root without reading its /etc/passwd.
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# Migrations run only when asked: `docker run ... image migrate` (see README, "Running in production").
ENTRYPOINT ["sh", "-c", "if [ \"$1\" = migrate ]; then exec python manage.py migrate --noinput; fi; exec gunicorn volpanel.asgi:application -c volpanel/gunicorn.conf.py --bind 0.0.0.0:8000", "--"]
