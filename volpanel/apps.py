from django.apps import AppConfig


class VolpanelConfig(AppConfig):
    name = "volpanel"
    verbose_name = "volpanel"

    def ready(self) -> None:
        from django.core.signals import request_started

        from volpanel import reconcile

        # Started by the first request a process serves, so management commands and a gunicorn master that has
        # not forked yet never run the periodic reconciler.
        request_started.connect(reconcile.start_periodic, dispatch_uid="volpanel.reconcile")
