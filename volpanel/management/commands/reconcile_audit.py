"""`manage.py reconcile_audit`: resolve audit rows left pending or accepted past a grace period."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any, Iterator

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet
from django.utils import timezone

from volpanel import services
from volpanel.models import AuditEntry, Outcome
from volpanel.openstack.cinder import Volume
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.errors import CloudError
from volpanel.openstack.session import login

PENDING_REASON = (
    "volpanel stopped between writing this row and the cloud's answer (the worker died or was restarted): "
    "whether Cinder received the request is not known."
)
# Past this a volume still moving is stuck, not slow: the row ends as unknown rather than waiting forever.
MOVING_LIMIT = timedelta(hours=24)


def _batches(rows: QuerySet[AuditEntry], size: int = 500) -> Iterator[AuditEntry]:
    """The rows as they stand now, a batch at a time: ids first, because resolving a row changes whether it
    matches the filter (and SQLite does not isolate a cursor from writes on its own connection)."""
    ids = list(rows.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), size):
        yield from AuditEntry.objects.filter(id__in=ids[start:start + size]).order_by("id")


class Skip(Exception):
    """The cloud could not be asked now (unreachable, 5xx): leave the row for the next run."""


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
        cutoff = timezone.now() - timedelta(seconds=grace)
        counts: Counter[str] = Counter()

        for entry in _batches(AuditEntry.objects.filter(outcome=Outcome.PENDING, requested_at__lte=cutoff)):
            moved = entry.advance(Outcome.UNKNOWN, settled_at=timezone.now(), detail=PENDING_REASON)
            counts["pending → unknown" if moved else "resolved elsewhere"] += 1

        accepted = AuditEntry.objects.filter(outcome=Outcome.ACCEPTED, requested_at__lte=cutoff)
        if accepted.exists():
            cloud, problem = self._service_cloud()
            for entry in _batches(accepted):
                try:
                    verdict = (Outcome.UNKNOWN, problem, "") if cloud is None else self._judge(cloud, entry)
                except Skip as exc:
                    self.stderr.write(f"{entry.uuid}: left for the next run ({exc})")
                    counts["left: cloud unreachable"] += 1
                    continue
                if verdict is None:
                    counts["left: still moving"] += 1
                    continue
                outcome, detail, status_after = verdict
                moved = entry.advance(outcome, settled_at=timezone.now(), detail=detail, status_after=status_after)
                counts[f"accepted → {outcome}" if moved else "resolved elsewhere"] += 1

        summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing to do"
        self.stdout.write(f"reconcile_audit: {summary}")

    def _service_cloud(self) -> tuple[Cloud | None, str]:
        """The service credential's cloud, or None and why the accepted rows cannot be followed."""
        user, password = settings.VOLPANEL_SERVICE_USER, settings.VOLPANEL_SERVICE_PASSWORD
        project = settings.VOLPANEL_SERVICE_PROJECT
        if not (user and password and project):
            return None, ("The cloud accepted the action, but volpanel stopped following it and no service "
                          "credential is configured (VOLPANEL_SERVICE_USER, _PASSWORD, _PROJECT) to check the result.")
        config = services.cloud_config()
        try:
            creds = login(config, user, password, project, settings.VOLPANEL_SERVICE_DOMAIN)
        except CloudError as exc:
            if exc.kind in ("auth", "fault"):
                return None, (f"The cloud accepted the action, but the service credential ({user} in {project}) "
                              f"was refused ({exc.message}), so the result could not be checked.")
            raise CommandError(f"Keystone could not be asked ({exc.message}); no row was changed.") from None
        if not creds.is_admin:
            # Without the admin role Cinder hides other projects' volumes: every row would look deleted.
            return None, (f"The cloud accepted the action, but the service credential ({user} in {project}) has no "
                          f"admin role, so the volume could not be checked.")
        return services.connect(creds), ""

    def _judge(self, cloud: Cloud, entry: AuditEntry) -> tuple[str, str, str] | None:
        if entry.cloud and entry.cloud != cloud.config.auth_url:
            return Outcome.UNKNOWN, f"The row was recorded against {entry.cloud}, not the configured cloud.", ""
        try:
            volume: Volume | None = cloud.cinder.get_volume(entry.volume_id)
        except CloudError as exc:
            if exc.status == 404:
                volume = None
            elif exc.kind == "auth" or exc.status == 403:
                return Outcome.UNKNOWN, f"The service credential may not read the volume ({exc.message}).", ""
            else:
                raise Skip(exc.message) from None
        try:
            image = cloud.glance.get_image(entry.image_id) if entry.image_id and volume is not None else None
            messages = cloud.cinder.user_messages(entry.volume_id) if volume is not None else []
        except CloudError as exc:
            raise Skip(exc.message) from None
        verdict = services.judge(entry, volume, image, messages)
        status = volume.status if volume is not None else ""
        if verdict is None:
            if timezone.now() - entry.requested_at < MOVING_LIMIT:
                return None
            return Outcome.UNKNOWN, f"The volume was still {status} 24 hours after the request.", status
        outcome, detail = verdict
        return outcome, f"Settled by the reconciler: {detail}", status
