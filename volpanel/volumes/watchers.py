"""Volume watchers: one poller per (cloud, project, volume) in this process, shared by every viewer's stream
and by the audit rows waiting for that volume to settle. Viewers add no Cinder calls; rows settle whether or
not anyone watches."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

from volpanel.audit.models import AuditEntry, Outcome
from volpanel.openstack.cinder import Snapshot, Volume
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.errors import CloudError
from volpanel.volumes import leases, outcomes, rules, selectors
from volpanel.volumes.outcomes import Judge

log = logging.getLogger(__name__)

Key = tuple[str, str, str]

# While a volume is not moving but an action on it is still pending (accepted, not yet started), polls back
# off from the interval up to this; a moving volume is polled every VOLPANEL_POLL_INTERVAL.
QUIET_POLL_MAX = 10.0
# On PostgreSQL: how often a follower asks for the lease (a dead leader is replaced within about this), and how
# often a leader looks for accepted rows other processes recorded (a notice usually makes it look at once).
FOLLOW_SECONDS = 1.0
ADOPT_SECONDS = 5.0


@dataclass(frozen=True)
class State:
    """One published state of a watched volume."""

    version: int  # orders the states of one watcher in this process; streams wait on it
    page: selectors.VolumePage | None
    settled: bool
    problem: str = ""  # why the watcher stopped early (expired token, cloud unreachable)
    history: tuple[AuditEntry, ...] = ()
    # What the page shows, hashed: the same content gives the same id in any process and across watcher
    # restarts, so a browser's Last-Event-ID means something to whichever worker it reconnects to.
    event_id: str = ""
    # Renders of this state shared by every stream of it (streams.py fills it).
    renders: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    render_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)


def poll_interval(quiet_polls: int) -> float:
    """Seconds to the next poll after `quiet_polls` polls in a row found the volume not moving."""
    interval = settings.VOLPANEL_POLL_INTERVAL
    # The first quiet polls stay short: Cinder may take a moment to start an action it accepted.
    return min(interval * 2 ** max(0, quiet_polls - 2), max(QUIET_POLL_MAX, interval))


def fingerprint(page: selectors.VolumePage | None, history: tuple[AuditEntry, ...], problem: str) -> str:
    rows = [(e.pk, e.action, e.outcome, e.detail, e.request_id, e.actor_name, e.requested_at) for e in history]
    return hashlib.blake2b(repr((page, rows, problem)).encode(), digest_size=12).hexdigest()


class _Subscriber:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def wake(self) -> None:
        self.loop.call_soon_threadsafe(self.event.set)


Snapshots = dict[str, Snapshot | None]  # the followed rows' snapshots by id (None: gone)


def _signature(volume: Volume | None, snapshots: Snapshots) -> Any:
    if volume is None:
        return None
    # Host and migration status too: a migration moves them while the status stands (the admin page shows them).
    return (volume.status, volume.size, volume.volume_type, volume.attachments, volume.host,
            volume.migration_status, sorted((sid, s.status if s else None) for sid, s in snapshots.items()))


class Watch:
    def __init__(self, key: Key, cloud: Cloud) -> None:
        self.key = key
        self.volume_id = key[2]
        self.cloud = cloud
        self.entries: dict[int, AuditEntry] = {}
        self.judges: dict[int, Judge] = {}  # each followed row's judge (its kind's, from the action registry)
        # Rows whose success Nova records afterwards (an in-use extend: extend_volume), by row: the action name.
        self.nova_events: dict[int, str] = {}
        # Nova's side of settled actions, per server: waited for (with the monotonic time to give up) while
        # someone watches, or given up on. Only the poller thread touches these.
        self.nova_waits: dict[str, tuple[selectors.NovaFollowUp, float]] = {}
        self.nova_missing: dict[str, selectors.NovaFollowUp] = {}
        self.subscribers: set[_Subscriber] = set()
        self.state = State(version=0, page=None, settled=False)
        self.running = False
        self.polls = 0  # Cinder volume GETs made by this watcher (benchmarks read it)
        # Rows handed over by follow() whose answer waits for this watcher's next volume GET (polled_after), with
        # when they were handed over (time.monotonic()): a GET that started before that does not count.
        self.awaiting_read: dict[UUID, float] = {}
        self.wakeup = threading.Event()  # cuts a poll interval short: last viewer gone, new action to follow
        # Set while nobody watches: the watcher then polls the volume alone (its rows are judged from it) and
        # publishes nothing, so `state` may be behind the cloud; the next viewer waits for a fresh one.
        self.stale = False
        # Every credential of this project that asked for the volume (viewers who proved they may read it,
        # actors whose actions it follows), by token: should the cloud refuse the one in use, it polls on with
        # another rather than leave rows and viewers behind. Tokens refused once are not tried again.
        self.credentials: dict[str, Cloud] = {cloud.token_id: cloud}
        self.refused: set[str] = set()
        # On PostgreSQL one process of the deployment polls the volume: the holder of its lease (leases.py); the
        # others follow the states it stores. None on SQLite, where every process polls for itself.
        self.kid: int | None = leases.key_id(key) if leases.shared() else None
        self.leading = False
        self.deciding = self.kid is not None  # until its first try for the lease: poller or follower?
        self.listening = False
        self.remote_until = 0.0  # (monotonic) another process has viewers of the volume until then
        self.adopt_at = 0.0  # (monotonic) when the leader next reads the rows other processes are waiting on

    def offer(self, cloud: Cloud) -> None:
        """A credential that may read the volume: kept, and polled with if it outlives the one in use. Caller
        holds _lock."""
        self.credentials.setdefault(cloud.token_id, cloud)
        if cloud.token_id not in self.refused and _outlives(cloud, self.cloud):
            self.cloud = cloud

    def _fall_back(self) -> bool:
        """The cloud refused the token in use: poll with the longest-lived other one, if any is left."""
        with _lock:
            self.refused.add(self.cloud.token_id)
            usable = [c for token, c in self.credentials.items() if token not in self.refused and not c.expired]
            if not usable:
                return False
            self.cloud = max(usable, key=_expiry)
        log.info("watcher %s: a token was refused; polling on with another viewer's", self.volume_id)
        return True

    # --- called from request threads / the event loop -------------------------------------------------
    async def next_state(self, subscriber: _Subscriber, seen: int, timeout: float) -> State | None:
        """The next state newer than `seen`, or None after `timeout` seconds without one (time for a heartbeat)."""
        if self.state.version > seen and not self.stale:
            return self.state
        subscriber.event.clear()
        try:
            await asyncio.wait_for(subscriber.event.wait(), timeout)
        except TimeoutError:
            return None
        return self.state if self.state.version > seen and not self.stale else None

    # --- the poller thread ----------------------------------------------------------------------------
    def run(self) -> None:
        started = time.monotonic()
        last_signature: Any = object()
        last_entries: tuple[int, ...] = ()
        failures = quiet_polls = 0
        try:
            if self.kid is not None and not self._follow_leader():
                return
            while True:
                with _lock:
                    if not self.subscribers and not self.entries and not self._remote_viewers():
                        # Nobody watches and no audit row waits: polling on would cost Cinder calls for no one.
                        self._retire()
                        return
                    entries = tuple(sorted(self.entries))
                close_old_connections()
                if self.kid is not None:
                    if not leases.holds(self.kid):  # its connection was lost, and the lease with it
                        self.leading = False
                        if not self._follow_leader():
                            return
                    self._adopt()
                try:
                    volume = self._poll()
                    snapshots = self._poll_snapshots() if volume is not None else {}
                    failures = 0
                except CloudError as exc:
                    if exc.kind == "auth":
                        if self._fall_back():
                            continue
                        # Not shared: the other processes' viewers poll on with their own credentials.
                        self._stop("Your session with the cloud expired; log in again to follow this volume.",
                                   share=False)
                        return
                    failures += 1
                    log.warning("watcher %s: %s", self.volume_id, exc)
                    if time.monotonic() - started > settings.VOLPANEL_SETTLE_TIMEOUT:
                        self._give_up(f"The cloud stopped answering while the volume was moving ({exc.message}).")
                        return
                    self._sleep(min(settings.VOLPANEL_POLL_INTERVAL * (2 ** failures), 15.0))
                    continue
                signature = _signature(volume, snapshots)
                with _lock:
                    viewers = bool(self.subscribers) or self._remote_viewers()
                page = self.state.page
                if not viewers and not self._waiting_on_image():
                    # Nobody looks: the rows are judged from the volume alone; no page is fetched or rendered.
                    page = None
                    if self.leading and not self.stale:
                        leases.forget(self.kid)  # type: ignore[arg-type]  # leading implies kid
                    self.stale = True
                    self._expire_nova_waits()  # kept for a viewer who comes while Nova is still awaited
                elif (signature != last_signature or page is None or self.stale or self._waiting_on_image()
                      or self.nova_waits):
                    page = self._load() if volume is not None else None
                    if page is not None:
                        volume = page.volume
                        signature = _signature(volume, snapshots)
                self._resolve(volume, page, snapshots)
                if page is not None:
                    page = self._follow_nova(page)
                with _lock:
                    settled = ((volume is None or not volume.is_transitional) and not self.entries
                               and not self.nova_waits)
                    changed = signature != last_signature or page is not self.state.page or entries != last_entries
                # History is read after _resolve wrote the outcomes, so the published rows match the volume.
                if (changed or settled) and (viewers or not self.stale):
                    self._publish(page, settled)
                last_signature, last_entries = signature, entries
                if settled:
                    with _lock:
                        # An action accepted meanwhile keeps the watcher going; so does a viewer who arrived
                        # after this poll found nobody (the next poll, made at once, publishes for them).
                        if not self.entries and not (self.stale and (self.subscribers or self._remote_viewers())):
                            self._retire()
                            return
                if time.monotonic() - started > settings.VOLPANEL_SETTLE_TIMEOUT:
                    self._give_up("The volume did not settle within the time volpanel follows an action.")
                    return
                migrating = volume is not None and volume.migration_status in rules.MIGRATING
                moving = ((volume is not None and volume.is_transitional) or migrating or self._waiting_on_image()
                          or bool(self.nova_waits)
                          or any(s and s.status in outcomes.SNAPSHOT_MOVING for s in snapshots.values()))
                quiet_polls = 0 if moving else quiet_polls + 1
                self._sleep(poll_interval(quiet_polls))
        except Exception:
            log.exception("watcher %s crashed", self.volume_id)
            self._stop("volpanel stopped following this volume after an internal error.")
        finally:
            if self.leading:
                self.leading = False
                leases.release(self.kid)  # type: ignore[arg-type]  # leading implies kid
            if self.listening:
                leases.unlisten()
            connections.close_all()  # this thread's own connections: nothing else would ever close them

    # --- sharing one poller between processes (PostgreSQL) ----------------------------------------------
    def _remote_viewers(self) -> bool:
        return self.leading and time.monotonic() < self.remote_until

    def _follow_leader(self) -> bool:
        """Publish the states the lease holder stores to this process's viewers, making no Cinder call, until
        this process takes the lease (True: it polls from then on) or nobody here needs the volume (False).
        This process's own rows are settled by the leader, which reads them from the database (_adopt)."""
        assert self.kid is not None
        if not self.listening:
            leases.listen(_on_notice)
            self.listening = True
        seen = 0
        hello_at = checked_at = 0.0
        while True:
            with _lock:
                if not self.subscribers and not self.entries:
                    self._retire()
                    return False
                viewers = bool(self.subscribers)
            led = leases.try_lead(self.kid)
            if self.deciding:
                with _polled:
                    self.deciding = False
                    _polled.notify_all()  # an answer waiting for this watcher's read learns whether one comes
            if led:
                self.leading = True
                self.stale = True  # the first poll loads the page and publishes it, whatever was shown before
                self.adopt_at = 0.0
                return True
            now = time.monotonic()
            if viewers and (now >= hello_at or self.stale):
                leases.notify(leases.HELLO, self.kid)  # the leader then fetches pages even if it has no viewer
                hello_at = now + leases.HELLO_SECONDS
            stored = leases.load(self.kid)
            settled = False
            if stored is None:
                # The leader stores nothing while nobody looks: what this process shows may be behind the cloud;
                # a viewer coming now waits for the state the leader publishes on the notice above.
                self.stale = True
            elif stored.version > seen:
                seen = stored.version
                page, settled, problem, history, event_id = stored.value
                self._set_state(page, settled, problem, history, event_id)
                checked_at = 0.0
            if self.entries and now >= checked_at:
                self._forget_settled()
                checked_at = now + ADOPT_SECONDS
            if settled:
                with _lock:
                    if not self.entries:
                        self._retire()
                        return False
            self._sleep(FOLLOW_SECONDS)

    def _forget_settled(self) -> None:
        """Drop this process's rows the leader (or anyone) has settled: they no longer keep it waiting."""
        close_old_connections()
        with _lock:
            pks = list(self.entries)
        try:
            open_rows = set(AuditEntry.objects.filter(pk__in=pks, outcome=Outcome.ACCEPTED)
                            .values_list("pk", flat=True))
        except DatabaseError:
            log.exception("watcher %s: could not read which rows are settled", self.volume_id)
            return
        with _lock:
            for pk in set(pks) - open_rows:
                self.entries.pop(pk, None)
                self.judges.pop(pk, None)
                self.nova_events.pop(pk, None)

    def _adopt(self) -> None:
        """Follow the accepted rows of this volume other processes recorded (their actions, a dead leader's),
        judged by their kind's judge (from the registry, know_kinds) as the process that recorded them would have."""
        if time.monotonic() < self.adopt_at:
            return
        self.adopt_at = time.monotonic() + ADOPT_SECONDS
        since = timezone.now() - timedelta(seconds=settings.VOLPANEL_SETTLE_TIMEOUT)
        try:
            rows = list(AuditEntry.objects.filter(
                outcome=Outcome.ACCEPTED, cloud=self.key[0], project_id=self.key[1], volume_id=self.volume_id,
                requested_at__gte=since))
        except DatabaseError:
            log.exception("watcher %s: could not read the rows other processes follow", self.volume_id)
            return
        with _lock:
            for row in rows:
                kind = _kinds.get(row.action)
                if row.pk in self.entries or kind is None:
                    continue  # a kind this process does not know is left to its own process or the reconciler
                self.entries[row.pk] = row
                self.judges[row.pk], nova_event = kind
                if nova_event:
                    self.nova_events[row.pk] = nova_event

    def _sleep(self, seconds: float) -> None:
        self.wakeup.wait(seconds)
        self.wakeup.clear()

    def _retire(self) -> None:
        """Leave the registry; the next viewer or action starts a fresh watcher. Caller holds _lock."""
        self.running = False
        if _watches.get(self.key) is self:
            del _watches[self.key]

    def _poll(self) -> Volume | None:
        self.polls += 1
        started = time.monotonic()
        volume = None
        try:
            volume = self.cloud.cinder.get_volume(self.volume_id)
            return volume
        except CloudError as exc:
            if exc.status == 404:
                return None
            raise
        finally:
            with _polled:
                now = time.monotonic()
                for row, handed_over in list(self.awaiting_read.items()):
                    if started >= handed_over:
                        _first_reads[row] = (now, volume)
                        del self.awaiting_read[row]
                for row, (read_at, _) in list(_first_reads.items()):
                    if now - read_at > FIRST_READ_KEPT:  # no answer came for it (another path followed the row)
                        del _first_reads[row]
                _polled.notify_all()

    def _poll_snapshots(self) -> Snapshots:
        """The snapshots the followed rows name (one taken, deleted or reverted to): a snapshot moves while its
        volume stands still, and those rows are judged by it."""
        with _lock:
            ids = sorted({e.snapshot_id for e in self.entries.values() if e.snapshot_id})
        found: Snapshots = {}
        for snapshot_id in ids:
            found[snapshot_id] = self.cloud.cinder.find_snapshot(snapshot_id)
        return found

    def _waiting_on_image(self) -> bool:
        return any(e.image_id for e in self.entries.values())

    def _load(self) -> selectors.VolumePage:
        image_ids = [e.image_id for e in self.entries.values() if e.image_id]
        return selectors.load_volume_page(self.cloud, self.volume_id, image_ids=image_ids)

    def _resolve(self, volume: Volume | None, page: selectors.VolumePage | None, snapshots: Snapshots) -> None:
        with _lock:
            pending = list(self.entries.values())
        for entry in pending:
            if entry.image_id and page is not None and entry.image_id not in page.images:
                continue  # Glance did not answer: an unreachable image service is not a failed upload.
            image = page.images.get(entry.image_id) if page and entry.image_id else None
            kind_judge = self.judges.get(entry.pk, outcomes.unjudgeable)
            snapshot = snapshots.get(entry.snapshot_id) if entry.snapshot_id else None
            verdict = outcomes.judge(entry, kind_judge, volume, image, page.messages if page else None, snapshot)
            if verdict is None:
                continue
            outcome, detail = verdict
            if outcome == Outcome.FAILED and not (page is not None and page.messages):
                # The driver's user message can land just after the status: ask once more before settling.
                try:
                    messages = self.cloud.cinder.user_messages(self.volume_id)
                    outcome, detail = outcomes.judge(entry, kind_judge, volume, image, messages, snapshot) or verdict
                except CloudError:
                    pass
            entry.advance(outcome, settled_at=timezone.now(), detail=detail,
                          status_after=volume.status if volume else "")
            selectors.forget_changed_by(entry)  # the page's memos held the volume's state before it settled
            with _lock:
                self.entries.pop(entry.pk, None)
                self.judges.pop(entry.pk, None)
                nova_event = self.nova_events.pop(entry.pk, "")
            has_compute = page.features.has_compute if page else self.cloud.has_service("compute")
            if nova_event and outcome == Outcome.SUCCEEDED and volume and has_compute:
                # Also when nobody watches yet: on a fast cloud the action settles before the tenant's stream
                # opens, and Nova's side comes a second later.
                self._await_nova(nova_event, entry, volume)

    def _await_nova(self, action: str, entry: AuditEntry, volume: Volume) -> None:
        """Wait (bounded) for Nova to record `action` on each server the volume is attached to."""
        give_up_at = time.monotonic() + settings.VOLPANEL_NOVA_EVENT_WAIT
        for server_id in {a.server_id for a in volume.attachments if a.server_id}:
            self.nova_missing.pop(server_id, None)
            followup = selectors.NovaFollowUp(server_id=server_id, action=action, since=entry.requested_at)
            self.nova_waits[server_id] = (followup, give_up_at)

    def _expire_nova_waits(self) -> None:
        for server_id, (followup, give_up_at) in list(self.nova_waits.items()):
            if time.monotonic() >= give_up_at:
                del self.nova_waits[server_id]
                self.nova_missing[server_id] = replace(followup, gave_up=True)

    def _follow_nova(self, page: selectors.VolumePage) -> selectors.VolumePage:
        """Drop the waits Nova has answered or that ran out of time; the page shows what is still awaited and
        what Nova never recorded."""
        for server_id, (followup, _) in list(self.nova_waits.items()):
            actions = page.instance_actions.get(server_id, [])
            if selectors.recorded_since(actions, followup.action, followup.since):
                del self.nova_waits[server_id]
        self._expire_nova_waits()
        followups = tuple(f for f, _ in self.nova_waits.values()) + tuple(self.nova_missing.values())
        return page if followups == page.nova_followups else replace(page, nova_followups=followups)

    def _publish(self, page: selectors.VolumePage | None, settled: bool, problem: str = "",
                 share: bool = True) -> None:
        try:
            history = tuple(selectors.history(self.key[1], self.volume_id)) if page is not None else ()
            if page is not None:
                page = selectors.with_recorded_hosts(page, self.key[1])
        except DatabaseError:
            # Viewers still get the volume's state; the rows reappear with the next state or page load.
            log.exception("watcher %s: history unavailable", self.volume_id)
            history = self.state.history
        event_id = fingerprint(page, history, problem)
        self._set_state(page, settled, problem, history, event_id)
        if self.leading and share:
            leases.store(self.kid, (page, settled, problem, history, event_id))  # type: ignore[arg-type]

    def _set_state(self, page: selectors.VolumePage | None, settled: bool, problem: str,
                   history: tuple[AuditEntry, ...], event_id: str) -> None:
        with _lock:
            self.state = State(version=self.state.version + 1, page=page, settled=settled, problem=problem,
                               history=history, event_id=event_id)
            self.stale = False
            subscribers = list(self.subscribers)
        for subscriber in subscribers:
            subscriber.wake()

    def _give_up(self, reason: str) -> None:
        with _lock:
            entries = list(self.entries.values())
        for entry in entries:
            entry.advance(Outcome.UNKNOWN, settled_at=timezone.now(), detail=reason)
        self._stop(reason)

    def _stop(self, problem: str, share: bool = True) -> None:
        # Rows still accepted stay so: the reconciler settles them later with a valid credential.
        with _lock:
            self._retire()
        self._publish(self.state.page, True, problem, share)


_lock = threading.RLock()
_polled = threading.Condition(_lock)  # a watcher finished a volume GET
# A followed row's first volume GET after follow() (the row's uuid, never reused as a pk can be after a database is
# emptied -> when it was read, the volume or None), until its answer takes it (polled_after) or FIRST_READ_KEPT
# seconds pass.
_first_reads: dict[UUID, tuple[float, Volume | None]] = {}
FIRST_READ_KEPT = 30.0
_watches: dict[Key, Watch] = {}
# Each audited kind's judge and Nova event by name, for the rows a leader adopts: handed over by the action
# registry when it is imported (it imports services, which import this module).
_kinds: dict[str, tuple[Judge, str]] = {}


def know_kinds(kinds: dict[str, tuple[Judge, str]]) -> None:
    _kinds.update(kinds)


_NEVER = datetime.max.replace(tzinfo=dt_timezone.utc)


def _expiry(cloud: Cloud) -> datetime:
    expires = cloud.credentials.expires_at
    if expires is None:
        return _NEVER
    return expires if expires.tzinfo is not None else expires.replace(tzinfo=dt_timezone.utc)


def _outlives(new: Cloud, current: Cloud) -> bool:
    """Whether `new` is the better credential to poll with: the current one expired, or `new` expires later."""
    return current.expired or _expiry(new) > _expiry(current)


def _on_notice(kind: str, kid: int) -> None:
    """A notice from another process (leases' listener thread): wake the watch of that volume it concerns."""
    with _lock:
        watches = [w for w in _watches.values() if w.kid == kid]
    for watch in watches:
        if watch.leading and kind == leases.HELLO:
            watch.remote_until = time.monotonic() + 3 * leases.HELLO_SECONDS
            if watch.stale:
                watch.wakeup.set()  # what it stored is gone: poll now, with the page, for the new viewers
        elif watch.leading and kind == leases.FOLLOW:
            watch.adopt_at = 0.0
            watch.wakeup.set()
        elif not watch.leading and kind == leases.STATE:
            watch.wakeup.set()


def _key(cloud: Cloud, volume_id: str) -> Key:
    return (cloud.config.auth_url, cloud.credentials.project_id, volume_id)


def _ensure(cloud: Cloud, volume_id: str) -> Watch:
    """The process's watch of this volume, started if needed. Caller holds _lock."""
    key = _key(cloud, volume_id)
    watch = _watches.get(key)
    if watch is None:
        watch = Watch(key, cloud)
        _watches[key] = watch
    else:
        # The longest-lived credential of the project keeps the poller going after an older token expires;
        # a viewer's token that expires sooner (an old tab reconnecting) never replaces it.
        watch.offer(cloud)
    if not watch.running:
        watch.running = True
        threading.Thread(target=watch.run, name=f"watch-{volume_id[:8]}", daemon=True).start()
    return watch


def follow(cloud: Cloud, entry: AuditEntry, judge: Judge, nova_event: str = "") -> None:
    """Follow an accepted action until its volume settles, then record the final outcome. The watcher settles a
    copy of the row: the caller's object (the view answering the POST) must not change under it while it renders
    — an answer saying "accepted" with the settled outcome's attributes would never get the final announcement.
    With `nova_event`, viewers are then shown Nova recording that instance action (or that it did not, in time);
    the row's outcome is Cinder's alone."""
    with _lock:
        watch = _ensure(cloud, entry.volume_id)
        watch.entries[entry.pk] = copy.copy(entry)
        now = time.monotonic()
        watch.awaiting_read = {row: at for row, at in watch.awaiting_read.items() if now - at < FIRST_READ_KEPT}
        watch.awaiting_read[entry.uuid] = now
        watch.judges[entry.pk] = judge
        if nova_event:
            watch.nova_events[entry.pk] = nova_event
        tell_leader = watch.kid is not None and not watch.leading
    watch.wakeup.set()
    if tell_leader:
        leases.notify(leases.FOLLOW, watch.kid)  # type: ignore[arg-type]  # the leader adopts the row at once


def polled_after(cloud: Cloud, entry: AuditEntry, timeout: float = 2.0) -> Volume | None:
    """The volume as read by the first GET this process's watcher started after it was handed `entry` (follow()
    wakes it to poll at once), waiting up to `timeout` for it: the answer to the action shows that read instead of
    asking Cinder again. None when there is none to be had here (no watcher of this process polls for the row, as
    a follower of another process's poller; that GET failed or found no volume; none in time): the caller reads
    the volume itself, and meets the cloud's answer as its own."""
    deadline = time.monotonic() + timeout
    with _polled:
        while entry.uuid not in _first_reads:
            watch = _watches.get(_key(cloud, entry.volume_id))
            left = deadline - time.monotonic()
            follower = watch is not None and watch.kid is not None and not watch.leading and not watch.deciding
            if watch is None or entry.uuid not in watch.awaiting_read or follower or left <= 0:
                return None
            _polled.wait(left)
        return _first_reads.pop(entry.uuid)[1]


class Subscription:
    def __init__(self, cloud: Cloud, volume_id: str) -> None:
        """Call only once the viewer's own token has read the volume (selectors.prove_access)."""
        self.subscriber = _Subscriber()
        with _lock:
            self.watch = _ensure(cloud, volume_id)
            self.watch.subscribers.add(self.subscriber)
            if self.watch.stale:
                self.watch.wakeup.set()  # its state is older than the cloud's: poll now, not after a back-off

    async def next_state(self, seen: int, timeout: float) -> State | None:
        return await self.watch.next_state(self.subscriber, seen, timeout)

    def refused(self, cloud: Cloud) -> bool:
        """Whether the watcher's polls found this token refused by the cloud."""
        with _lock:
            return cloud.token_id in self.watch.refused

    def close(self) -> None:
        with _lock:
            self.watch.subscribers.discard(self.subscriber)
            idle = not self.watch.subscribers and not self.watch.entries
        if idle:
            self.watch.wakeup.set()


def watch_of(volume_id: str) -> Watch | None:
    """This process's watch of the volume, if it has one (tests and benchmarks look at its credential and polls)."""
    with _lock:
        return next((w for key, w in _watches.items() if key[2] == volume_id), None)


def polling() -> list[Key]:
    """The (cloud, project, volume) keys this process polls now."""
    with _lock:
        return list(_watches)


def is_following(entry_pk: int) -> bool:
    """Whether a watcher of this process is following the row (the reconciler leaves it to that watcher)."""
    with _lock:
        return any(entry_pk in w.entries for w in _watches.values())


def unsettled_entries() -> int:
    with _lock:
        return sum(len(w.entries) for w in _watches.values())


def wait_idle(timeout: float) -> bool:
    """Block until no watcher runs (tests and shutdown use it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _lock:
            if not _watches:
                return True
        time.sleep(0.05)
    return False
