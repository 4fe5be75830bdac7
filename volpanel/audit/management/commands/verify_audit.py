"""`manage.py verify_audit`: walk the audit hash chain and check every row against its events
(volpanel.audit.verify does the walk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from volpanel.audit import verify
from volpanel.audit.digests import DigestError


class Command(BaseCommand):
    help = ("Recompute every audit event's hash and check each audit row against its events; with --digests DIR, "
            "also check every signed digest there and that the chain still holds what each digest recorded.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--digests", metavar="DIR", type=Path,
                            help="Directory of digests written by `manage.py audit_digest` (signature key: "
                                 "VOLPANEL_AUDIT_DIGEST_KEY).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = verify.verify(options["digests"])
        except DigestError as exc:
            raise CommandError(str(exc)) from None
        except verify.Broken as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(str(report))
