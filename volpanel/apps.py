from typing import Any

from django.apps import AppConfig
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
        # The database cache's table is no model, so no migration makes it: every `migrate` (make run, the Docker
        # image's `migrate`, the test database) creates it if missing.
        post_migrate.connect(create_cache_table, sender=self, dispatch_uid="volpanel.cache_table")


def create_cache_table(using: str = "default", **kwargs: Any) -> None:
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)
