"""The reconciler: settles audit rows left pending or accepted past a grace period, from `manage.py
reconcile_audit` and from a periodic thread in each web process. Every move is the conditional `advance`, so any
number of runners on any number of hosts move each row once."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.db.models import QuerySet
from django.utils import timezone

from volpanel.audit import actors
from volpanel.audit.models import AuditEntry, Outcome
from volpanel.cloud import cloud_config, connect
from volpanel.lib import memo
from volpanel.openstack.cinder import Volume
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.errors import CloudError
from volpanel.openstack.session import login
from volpanel.volumes import actions, watchers

log = logging.getLogger(__name__)

PENDING_REASON = (
    "volpanel stopped between writing this row and the cloud's answer (the worker died or was restarted): "
    "whether Cinder received the request is not known."
)
# Past this a volume still moving is stuck, not slow: the row ends as unknown rather than waiting forever.
MOVING_LIMIT = timedelta(hours=24)

Verdict = tuple[str, str, str]  # outcome, detail, status_after


class Skip(Exception):
    """The cloud could not be asked now (unreachable, 5xx): leave the row for the next run."""

    label = "left: cloud unreachable"


class MaybeFollowed(Skip):
    """No way to look at the volume, and the row is young enough that another process's watcher may still be
    following it (for up to VOLPANEL_SETTLE_TIMEOUT): it gets the chance to record the real outcome."""

    label = "left: may still be followed elsewhere"


# How long after VOLPANEL_SETTLE_TIMEOUT a row no one could check is given up as unknown: every watcher of any
# process has given up on it by then and written its own verdict.
FOLLOW_MARGIN = timedelta(minutes=5)


class TokenRefused(Exception):
    """The acting user's token no longer works (expired early, revoked, role removed)."""


class KeystoneUnreachable(Exception):
    """The service credential could not be checked: the remaining accepted rows wait for the next run."""

    def __init__(self, message: str, counts: Counter[str]) -> None:
        super().__init__(message)
        self.counts = counts


def _batches(rows: QuerySet[AuditEntry], size: int = 500) -> Iterator[AuditEntry]:
    """The rows as they stand now, a batch at a time: ids first, because resolving a row changes whether it
    matches the filter (and SQLite does not isolate a cursor from writes on its own connection)."""
    ids = list(rows.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), size):
        # Filtered again: a row that moved on since the ids were read (a pending row answered meanwhile) is
        # no longer this pass's to resolve.
        yield from rows.filter(id__in=ids[start:start + size]).order_by("id")


class ServiceCloud:
    """The service credential's cloud, logged in on first need (a run with no accepted row asks Keystone
    nothing)."""

    def __init__(self) -> None:
        self._result: tuple[Cloud | None, str] | None = None

    def get(self) -> tuple[Cloud | None, str]:
        """The cloud, or None and why accepted rows cannot be followed. Raises CloudError when Keystone
        cannot be asked at all."""
        if self._result is None:
            self._result = self._login()
        return self._result

    @staticmethod
    def _login() -> tuple[Cloud | None, str]:
        user, password = settings.VOLPANEL_SERVICE_USER, settings.VOLPANEL_SERVICE_PASSWORD
        project = settings.VOLPANEL_SERVICE_PROJECT
        if not (user and password and project):
            return None, ("The cloud accepted the action, but volpanel stopped following it and no service "
                          "credential is configured (VOLPANEL_SERVICE_USER, _PASSWORD, _PROJECT) to check the result.")
        try:
            creds = login(cloud_config(), user, password, project, settings.VOLPANEL_SERVICE_DOMAIN)
        except CloudError as exc:
            # Refused: a 401, or a 4xx for a wrong domain or project. Keystone failing (5xx) is not a refusal:
            # the rows wait for a run that can ask.
            if exc.kind == "auth" or (exc.kind == "fault" and (exc.status or 0) < 500):
                return None, (f"The cloud accepted the action, but the service credential ({user} in {project}) "
                              f"was refused ({exc.message}), so the result could not be checked.")
            raise
        if not creds.is_admin:
            # Without the admin role Cinder hides other projects' volumes: every row would look deleted.
            return None, (f"The cloud accepted the action, but the service credential ({user} in {project}) has no "
                          f"admin role, so the volume could not be checked.")
        return connect(creds), ""


def run(grace: float, *, warn: Callable[[str], None] = log.warning) -> Counter[str]:
    """One pass over the rows older than `grace` seconds; returns what happened, counted. Raises
    KeystoneUnreachable (carrying the counts so far) when the service credential cannot be checked."""
    cutoff = timezone.now() - timedelta(seconds=grace)
    counts: Counter[str] = Counter()

    for entry in _batches(AuditEntry.objects.filter(outcome=Outcome.PENDING, requested_at__lte=cutoff)):
        moved = entry.advance(Outcome.UNKNOWN, settled_at=timezone.now(), detail=PENDING_REASON)
        counts["pending → unknown" if moved else "resolved elsewhere"] += 1

    accepted = AuditEntry.objects.filter(outcome=Outcome.ACCEPTED, requested_at__lte=cutoff)
    if not accepted.exists():
        return counts
    service = ServiceCloud()
    for entry in _batches(accepted):
        if watchers.is_following(entry.pk):
            counts["left: followed by this process"] += 1
            continue
        try:
            verdict = _verdict(entry, service)
        except Skip as exc:
            warn(f"{entry.uuid}: left for the next run ({exc})")
            counts[exc.label] += 1
            continue
        except CloudError as exc:
            raise KeystoneUnreachable(f"Keystone could not be asked ({exc.message}); the remaining accepted rows "
                                      f"were left for the next run.", counts) from None
        if verdict is None:
            counts["left: still moving"] += 1
            continue
        outcome, detail, status_after = verdict
        moved = entry.advance(outcome, settled_at=timezone.now(), detail=detail, status_after=status_after)
        counts[f"accepted → {outcome}" if moved else "resolved elsewhere"] += 1
    return counts


def _verdict(entry: AuditEntry, service: ServiceCloud) -> Verdict | None:
    """Judged with the acting user's own session while this process knows a valid one, else with the service
    credential."""
    creds = actors.lookup(entry.cloud, entry.actor_id, entry.project_id) if entry.cloud else None
    if creds is not None:
        try:
            return _judge(connect(creds), entry, f"{entry.actor_name}'s session")
        except TokenRefused:
            actors.forget(entry.cloud, entry.actor_id, entry.project_id, only=creds)
    cloud, problem = service.get()
    if cloud is None:
        followed_until = entry.requested_at + timedelta(seconds=settings.VOLPANEL_SETTLE_TIMEOUT) + FOLLOW_MARGIN
        if timezone.now() < followed_until:
            raise MaybeFollowed("no usable service credential to look, and the worker that took the action may "
                                "still be following it")
        return Outcome.UNKNOWN, problem, ""
    return _judge(cloud, entry, "")


def _judge(cloud: Cloud, entry: AuditEntry, session: str) -> Verdict | None:
    """The verdict as `cloud` sees the volume; `session` names the actor's session, or '' for the service
    credential."""
    if entry.cloud and entry.cloud != cloud.config.auth_url:
        return Outcome.UNKNOWN, f"The row was recorded against {entry.cloud}, not the configured cloud.", ""
    try:
        volume: Volume | None = cloud.cinder.get_volume(entry.volume_id)
    except CloudError as exc:
        if exc.status == 404:
            volume = None
        elif exc.kind == "auth" or exc.status == 403:
            if session:
                raise TokenRefused(exc.message) from None
            return Outcome.UNKNOWN, f"The service credential may not read the volume ({exc.message}).", ""
        else:
            raise Skip(exc.message) from None
    try:
        image = cloud.glance.get_image(entry.image_id) if entry.image_id and volume is not None else None
        messages = cloud.cinder.user_messages(entry.volume_id) if volume is not None else []
        snapshot = cloud.cinder.find_snapshot(entry.snapshot_id) if entry.snapshot_id and volume is not None else None
    except CloudError as exc:
        if session and exc.kind == "auth":
            raise TokenRefused(exc.message) from None
        raise Skip(exc.message) from None
    verdict = actions.judge(entry, volume, image, messages, snapshot)
    status = volume.status if volume is not None else ""
    if verdict is None:
        if timezone.now() - entry.requested_at < MOVING_LIMIT:
            return None
        return Outcome.UNKNOWN, f"The volume was still {status} 24 hours after the request.", status
    outcome, detail = verdict
    by = f" with {session}" if session else ""
    return outcome, f"Settled by the reconciler{by}: {detail}", status


# --- the periodic run in a web process -------------------------------------------------------------------
_start_lock = threading.Lock()
_thread: threading.Thread | None = None
_stop = threading.Event()
# What this process's periodic runs moved, counted (tests and `totals()` read it).
_totals: Counter[str] = Counter()


def start_periodic(**_: Any) -> None:
    """Start this process's reconciler thread once (connected to request_started, so only a process that
    serves requests runs one: not `manage.py migrate`, not a gunicorn master before it forks). Does nothing
    when VOLPANEL_RECONCILE_INTERVAL and VOLPANEL_AUDIT_DIGEST_INTERVAL are both 0."""
    global _thread
    if _thread is not None:
        return
    reconcile_every = settings.VOLPANEL_RECONCILE_INTERVAL
    digest_every = settings.VOLPANEL_AUDIT_DIGEST_INTERVAL
    if reconcile_every <= 0 and digest_every <= 0:
        return
    with _start_lock:
        if _thread is not None:
            return
        _stop.clear()
        _thread = threading.Thread(target=_loop, args=(reconcile_every, digest_every), daemon=True,
                                   name="volpanel-reconcile")
        _thread.start()


def stop_periodic(timeout: float = 30.0) -> None:
    """Stop the thread after its current pass (tests, and a clean shutdown)."""
    global _thread
    with _start_lock:
        thread, _thread = _thread, None
        _stop.set()
    if thread is not None:
        thread.join(timeout)


def running() -> bool:
    return _thread is not None and _thread.is_alive()


def totals() -> Counter[str]:
    with _start_lock:
        return Counter(_totals)


def clear_totals() -> None:
    """Forget what this process's periodic runs moved; a running thread keeps running (memo.clear_all calls it)."""
    with _start_lock:
        _totals.clear()


memo.register("audit.reconciler_totals", clear_totals)


def _loop(reconcile_every: float, digest_every: float) -> None:
    # Jittered, so processes started by one deploy do not all ask the cloud in the same second.
    def later(every: float, low: float = 0.9, high: float = 1.1) -> float:
        return time.monotonic() + every * random.uniform(low, high) if every > 0 else float("inf")

    next_reconcile, next_digest = later(reconcile_every, 0.1, 1.0), later(digest_every, 0.1, 1.0)
    while not _stop.wait(max(0.0, min(next_reconcile, next_digest) - time.monotonic())):
        close_old_connections()
        try:
            if time.monotonic() >= next_reconcile:
                next_reconcile = later(reconcile_every)
                _reconcile_once()
            if time.monotonic() >= next_digest:
                next_digest = later(digest_every)
                _digest_once(digest_every)
        except Exception:
            log.exception("periodic audit run failed; it runs again at the next interval")
        finally:
            close_old_connections()


def _reconcile_once() -> None:
    try:
        counts = run(settings.VOLPANEL_RECONCILE_GRACE)
    except KeystoneUnreachable as exc:
        log.warning("reconcile: %s", exc)
        counts = exc.counts
    if counts:
        log.info("reconcile: %s", ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    with _start_lock:
        _totals.update(counts)


def _digest_once(every: float) -> None:
    from volpanel.audit import digests

    written = digests.write(max_age=every)
    if written is not None:
        log.info("audit digest written: %s", written)
