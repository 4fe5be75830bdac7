"""`manage.py seed_audit N`: insert N synthetic audit rows, with their hash-chained events, for benchmarks
(volpanel.audit.seed makes and writes them; demo mode only)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from volpanel.audit import seed


class Command(BaseCommand):
    help = ("Insert N synthetic audit rows (mixed users, projects, volumes, actions, outcomes and times over the "
            "last D days) with their hash-chained events, so verify_audit still passes. For benchmarks and "
            "demos: refused unless volpanel runs against the demo cloud.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("count", type=int, help="How many rows to insert.")
        parser.add_argument("--projects", type=int, default=50, help="Number of projects (default 50).")
        parser.add_argument("--days", type=float, default=365.0, help="Spread the rows over this many past days.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (same seed, same rows).")
        parser.add_argument("--batch", type=int, default=5000, help="Rows per transaction (default 5000).")

    def handle(self, *args: Any, **options: Any) -> None:
        count, projects, days, batch = options["count"], options["projects"], options["days"], options["batch"]
        if count < 1:
            raise CommandError("N must be at least 1.")
        if projects < 1:
            raise CommandError("--projects must be at least 1.")
        if days <= 0:
            raise CommandError("--days must be more than 0.")
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        started = time.monotonic()

        def progress(done: int) -> None:
            self.stdout.write(f"  {done} rows, {time.monotonic() - started:.1f} s")

        try:
            seed.write(count, projects=projects, days=days, seed=options["seed"], batch=batch,
                       progress=progress if options["verbosity"] > 1 else None)
        except seed.Refused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"seed_audit: {count} rows in {time.monotonic() - started:.1f} s")
