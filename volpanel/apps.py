import sqlite3
import threading
from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


class VolpanelConfig(AppConfig):
    name = "volpanel"
    verbose_name = "volpanel"

    def ready(self) -> None:
        from django.core.signals import request_started

        from volpanel.audit import reconciler

        # Started by the first request a process serves, so management commands and a gunicorn master that has
        # not forked yet never run the periodic reconciler.
        request_started.connect(reconciler.start_periodic, dispatch_uid="volpanel.reconcile")
        request_started.connect(keep_sqlite_open, dispatch_uid="volpanel.sqlite_anchor")
        # The database cache's table is no model, so no migration makes it: every `migrate` (make run, the Docker
        # image's `migrate`, the test database) creates it if missing.
        post_migrate.connect(create_cache_table, sender=self, dispatch_uid="volpanel.cache_table")


def create_cache_table(using: str = "default", **kwargs: Any) -> None:
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


# SQLite only. Threads open connections and close them (a watcher's when it ends; before volpanel.asgi kept its
# view threads, every request did: CONN_MAX_AGE = 0). The connection closed last on a WAL database checkpoints the
# whole log into the database and deletes it, with its syncs, and the next one starts a new log: ~2 ms each time.
# One connection per serving process that has read the database and stays open (never in a transaction, so it
# holds no lock) means no thread's close is the last: SQLite checkpoints as it goes instead (every 1,000 pages of
# log, wal_autocheckpoint).
_anchors: dict[str, sqlite3.Connection] = {}
_anchor_lock = threading.Lock()


def keep_sqlite_open(**kwargs: Any) -> None:
    connection = connections["default"]
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "sqlite" or name == ":memory:" or "mode=memory" in name:
        return
    if name in _anchors:
        return
    with _anchor_lock:
        if name not in _anchors:
            anchor = sqlite3.connect(name, check_same_thread=False)
            anchor.execute("SELECT count(*) FROM sqlite_master").fetchall()
            _anchors[name] = anchor
