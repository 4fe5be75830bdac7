"""`manage.py reconcile_audit`: resolve audit rows left pending or accepted past a grace period."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from volpanel.audit import reconciler


class Command(BaseCommand):
    help = ("Resolve audit rows still pending or accepted after the grace period: pending ones become unknown, "
            "accepted ones are judged from the volume as the service credential sees it. Safe to run from several "
            "hosts at once: each row moves once.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--grace", type=float, default=300.0,
                            help="Leave rows younger than this many seconds to the web process (default 300).")

    def handle(self, *args: Any, **options: Any) -> None:
        grace = options["grace"]
        if grace < 0:
            raise CommandError("--grace must be zero or more seconds.")
        try:
            counts = reconciler.run(grace, warn=self.stderr.write)
        except reconciler.KeystoneUnreachable as exc:
            raise CommandError(str(exc)) from None
        summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing to do"
        self.stdout.write(f"reconcile_audit: {summary}")
