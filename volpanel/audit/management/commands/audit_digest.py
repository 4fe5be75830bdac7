"""`manage.py audit_digest`: write a signed digest of the audit chain's head."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from volpanel.audit import digests


class Command(BaseCommand):
    help = ("Write a digest of the audit chain (head event id, hash, event count, link to the previous digest) "
            "signed with VOLPANEL_AUDIT_DIGEST_KEY into VOLPANEL_AUDIT_DIGEST_DIR. `verify_audit --digests DIR` "
            "checks the chain against every digest.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            path = digests.write()
        except (digests.DigestError, OSError) as exc:
            raise CommandError(str(exc)) from None
        assert path is not None
        self.stdout.write(f"audit_digest: wrote {path}")
