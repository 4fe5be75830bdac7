"""Volume reads: what the pages and streams show, fetched from the cloud at once where it can be and reused from
short memos where that is safe; the audit rows a tenant may see of a volume. Nothing here changes anything."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from volpanel.audit.models import AuditEntry, Outcome
from volpanel.lib.memo import Memo
from volpanel.openstack.cinder import MV_REIMAGE, Limits, Snapshot, UserMessage, Volume, VolumeType
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.errors import CloudError
from volpanel.openstack.glance import Image
from volpanel.openstack.nova import InstanceAction, Server
from volpanel.volumes import rules

log = logging.getLogger(__name__)
T = TypeVar("T")
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="volpanel-fetch")


def cloud_features(cloud: Cloud) -> rules.CloudFeatures:
    return rules.CloudFeatures(
        versions=cloud.cinder.versions(),
        has_compute=cloud.has_service("compute"),
        has_image=cloud.has_service("image"),
        snapshot_upload=settings.VOLPANEL_SNAPSHOT_UPLOAD,
    )


def list_volumes(cloud: Cloud, *, meanwhile: Callable[[], object] | None = None) -> list[Volume]:
    """The project's volumes. `meanwhile` (the page around the list) runs on the pool while this thread makes the
    GET: the thread already running sends it at once, where a pool thread would first have to wake and then wait
    for the interpreter while the page renders."""
    if meanwhile is None:
        return cloud.cinder.list_volumes()
    around_f = _pool.submit(contextvars.copy_context().run, meanwhile)  # the request id and the script prefix
    try:
        volumes = cloud.cinder.list_volumes()
    finally:
        wait([around_f])  # the request is not answered while its page is still being rendered
    around_f.result()
    return volumes


@dataclass(frozen=True)
class NovaFollowUp:
    """Nova's side of an in-use extend, followed after Cinder has finished: Cinder sends Nova its volume-extended
    event once the volume is in-use again, and Nova records the instance action a moment later (0.4–1.3 s on real
    Nova), or never when Nova is down. The watcher waits for it at most VOLPANEL_NOVA_EVENT_WAIT seconds."""

    server_id: str
    action: str  # the instance action awaited, e.g. "extend_volume"
    since: datetime  # when the volpanel action was asked
    gave_up: bool = False  # Nova recorded nothing within the wait


# Nova keeps an action's start to the whole second, on its own clock: an action that started up to this much
# before volpanel asked still counts as the answer (two extends of one server within it are not told apart).
NOVA_CLOCK_SLACK = timedelta(seconds=2)


def recorded_since(actions: list[InstanceAction], action: str, since: datetime) -> InstanceAction | None:
    """The newest instance action named `action` that Nova started at or after `since`, if any."""
    for candidate in actions:  # Nova lists the newest first
        if candidate.action != action:
            continue
        try:
            started = datetime.fromisoformat(candidate.start_time.replace("Z", "+00:00"))
        except ValueError:
            continue
        if started.tzinfo is None:
            started = started.replace(tzinfo=dt_timezone.utc)
        if started >= since - NOVA_CLOCK_SLACK:
            return candidate
    return None


@dataclass
class VolumePage:
    """Everything the volume page shows, fetched concurrently."""

    volume: Volume
    features: rules.CloudFeatures
    snapshots: list[Snapshot]
    types: list[VolumeType]
    limits: Limits | None
    servers: list[Server]
    messages: list[UserMessage]
    instance_actions: dict[str, list[InstanceAction]] = field(default_factory=dict)
    # An image id maps to None once Glance says it is gone; an id absent here means Glance did not answer.
    images: dict[str, Image | None] = field(default_factory=dict)
    servers_problem: str = ""  # why the server list is empty when Nova did not answer
    nova_followups: tuple[NovaFollowUp, ...] = ()  # set by the watcher that follows an action on the volume
    # The active images Glance lists for the project (the reimage picker), where the cloud can reimage.
    project_images: list[Image] = field(default_factory=list)
    # attachment id → the host name volpanel recorded when it attached it (with_recorded_hosts)
    recorded_hosts: dict[str, str] = field(default_factory=dict)
    pools: tuple[str, ...] = ()  # the scheduler's pools, loaded for the admin page only (admin_views)
    # How old the oldest memo answer this page reuses is, in seconds (0: all fetched now; load_volume_page).
    side_age: float = field(default=0.0, compare=False, repr=False)

    @property
    def server_names(self) -> dict[str, str]:
        return {s.id: s.name for s in self.servers}

    @property
    def nova_extends(self) -> list[tuple[str, InstanceAction]]:
        """Each attached server's newest extend_volume, unless the page still waits for (or gave up on) a newer
        one there. Newest by Nova's list, not necessarily its first entry: Nova keeps start times to the second,
        so an attach and an extend within one second may come in either order."""
        followed = {f.server_id for f in self.nova_followups}
        found = []
        for server_id, actions in self.instance_actions.items():
            extend = next((a for a in actions if a.action == "extend_volume"), None)
            if extend is not None and server_id not in followed:
                found.append((server_id, extend))
        return found

    @property
    def latest_snapshot(self) -> Snapshot | None:
        return rules.latest_snapshot(self.snapshots)




def _optional(fn: Callable[[], Any], default: Any) -> Any:
    """A side panel the page can live without (quota, servers, messages): its failure must not break the page."""
    try:
        return fn()
    except CloudError as exc:
        if exc.kind == "auth":
            raise
        log.info("optional fetch failed: %s", exc)
        return default





# Volume types, per cloud and project (private types are granted per project). Types are created and removed
# by cloud admins, rarely: a new type shows within a minute, and a type removed in that minute is refused by
# Cinder itself when someone picks it (the retype is then audited as rejected, with Cinder's message).
TYPES_TTL = 60.0
_types: Memo[tuple[str, str], list[VolumeType]] = Memo("volumes.types", TYPES_TTL)
# A volume's user messages, per (cloud, project, volume, updated_at). Cinder writes such a message when an
# operation on the volume fails, and that operation has moved the volume's status (so its updated_at) too: an
# unchanged updated_at means no new message. Two guards: an answer is kept only when fetched well after that
# updated_at (Cinder may save the status a moment before the message), and for at most a minute (messages
# also expire, and a clock off by more than the grace only costs an older list for that minute).
MESSAGES_TTL = 60.0
MESSAGES_GRACE = 10.0
_messages: Memo[tuple[str, str, str, str | None], list[UserMessage]] = Memo("volumes.user_messages",
                                                                                 MESSAGES_TTL)


def _scope(cloud: Cloud) -> tuple[str, str]:
    return cloud.config.auth_url, cloud.credentials.project_id


# The project's images, for the reimage picker: a new image shows within a minute (Cinder itself refuses one that
# is gone or no longer active when it is picked, and the attempt is audited as rejected).
IMAGES_TTL = 60.0
_images: Memo[tuple[str, str], list[Image]] = Memo("volumes.project_images", IMAGES_TTL)


def project_images(cloud: Cloud) -> list[Image]:
    key = _scope(cloud)
    images = _images.get(key)
    if images is None:
        images = [i for i in cloud.glance.list_images() if i.status == "active"]
        _images.put(key, images)
    return images


def volume_types(cloud: Cloud) -> list[VolumeType]:
    key = _scope(cloud)
    types = _types.get(key)
    if types is None:
        types = cloud.cinder.list_types()
        _types.put(key, types)
    return types


def _settled_for(updated_at: str | None) -> float:
    """Seconds since the volume last changed, by the cloud's clock; 0 when unknown."""
    if not updated_at:
        return 0.0
    try:
        changed = datetime.fromisoformat(updated_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if changed.tzinfo is None:
        changed = changed.replace(tzinfo=dt_timezone.utc)
    return (timezone.now() - changed).total_seconds()


def _messages_key(cloud: Cloud, volume: Volume) -> tuple[str, str, str, str | None]:
    return (*_scope(cloud), volume.id, volume.updated_at)


# The updated_at each volume had when this process last asked for its messages. When the memo holds that
# answer, the volume GET comes first and tells whether it still applies; otherwise (a volume not seen lately, or
# one that changed moments ago) the messages are fetched alongside the volume, not after it.
_seen: Memo[tuple[str, str, str], tuple[str | None]] = Memo("volumes.messages_seen_at", MESSAGES_TTL)


def _messages_memoized(cloud: Cloud, volume_id: str) -> bool:
    last = _seen.get((*_scope(cloud), volume_id))
    return last is not None and _messages.get((*_scope(cloud), volume_id, last[0])) is not None


def user_messages(cloud: Cloud, volume: Volume, fetched: Future[Any] | None = None) -> list[UserMessage]:
    """The volume's user messages, reused while the volume has not changed (see MESSAGES_TTL). `fetched` is a
    request already under way for them."""
    key = _messages_key(cloud, volume)
    found = _messages.get(key)
    if found is not None:
        _seen.put(key[:3], (volume.updated_at,))
        return found
    if fetched is not None:
        messages = fetched.result()
    else:
        messages = _optional(lambda: cloud.cinder.user_messages(volume.id), None)
    if messages is None:
        return []  # not kept: the next view asks again
    _seen.put(key[:3], (volume.updated_at,))
    # A volume never changed since its creation carries no updated_at: its age then counts from created_at.
    if not volume.is_transitional and _settled_for(volume.updated_at or volume.created_at) >= MESSAGES_GRACE:
        _messages.put(key, messages)
    return messages


# Which volumes each token read lately (page loads, action answers). A status stream hands a new viewer what a
# watcher fetched with another viewer's token only once the newcomer's own token has read the volume: a token
# the cloud revoked (someone removed from the project) or a session outliving its token gets nothing from it.
# The page that opens a stream has just read the volume, so a stream normally costs no Cinder call.
READ_PROOF_TTL = 60.0
_reads: Memo[tuple[str, str, str], bool] = Memo("volumes.read_proofs", READ_PROOF_TTL, size=10_000)


def _read_by(cloud: Cloud, volume_id: str) -> None:
    _reads.put((cloud.config.auth_url, cloud.token_id, volume_id), True)


def prove_access(cloud: Cloud, volume_id: str) -> None:
    """Return if this token may read the volume: it read it within READ_PROOF_TTL, or it reads it now (one
    volume GET). Raises the cloud's CloudError otherwise (expired or revoked token, not this project's)."""
    if cloud.expired:
        raise CloudError("auth", "The token has expired.", service="identity", status=401)
    if _reads.get((cloud.config.auth_url, cloud.token_id, volume_id)) is None:
        cloud.cinder.get_volume(volume_id)
        _read_by(cloud, volume_id)


_UNANSWERED = object()


def _servers(cloud: Cloud) -> tuple[list[Server], str]:
    try:
        return cloud.nova.list_servers(), ""
    except CloudError as exc:
        if exc.kind == "auth":
            raise
        log.info("server list failed: %s", exc)
        return [], f"Compute (Nova) did not list your servers ({exc.first_line}); try again in a moment."


def _ready(value: T) -> Future[T]:
    done: Future[T] = Future()
    done.set_result(value)
    return done


# What the page shows beside the volume, kept per cloud and project (snapshots per volume, servers' instance
# actions per server) so that a page GET waits for the volume alone: the volume GET proves the viewer's token
# may read it, the rest comes from here. Every full load (an action POST checking its form, a watcher, the
# refresh a page's stream makes) puts fresh answers; volpanel's own actions drop them when the cloud accepts
# them and when they settle (forget_side); an answer older than FRESH_FOR is shown only while the page's
# stream fetches it again (streams.volume_stream's refresh), and none is used past SIDE_TTL. Nothing is ever
# acted on from here: every action POST loads the page in full first.
SIDE_TTL = 30.0
FRESH_FOR = 1.0
_snapshots: Memo[tuple[str, str, str], list[Snapshot]] = Memo("volumes.side_snapshots", SIDE_TTL)
# Only answers are kept: a failed quota or server list (None, or a problem to say) is asked for again.
_limits: Memo[tuple[str, str], Limits | None] = Memo("volumes.side_limits", SIDE_TTL)
_server_lists: Memo[tuple[str, str], tuple[list[Server], str]] = Memo("volumes.side_servers", SIDE_TTL)
_instance_actions: Memo[tuple[str, str, str], list[InstanceAction] | None] = Memo("volumes.side_instance_actions",
                                                                          SIDE_TTL)


def forget_side(scope: tuple[str, str], volume_id: str) -> None:
    """Drop what an action on the volume may have changed: its snapshots, and the project's quota usage, servers
    and instance actions. Called when the cloud accepts a volpanel action and when the action settles."""
    _snapshots.forget(lambda key: key == (*scope, volume_id))
    _limits.forget(lambda key: key == scope)
    _server_lists.forget(lambda key: key == scope)
    _instance_actions.forget(lambda key: key[:2] == scope)


def forget_changed_by(entry: AuditEntry) -> None:
    """forget_side for an action's row: in the actor's project and, for an admin's action, the volume's."""
    for project_id in {entry.project_id, entry.volume_project_id} - {"", None}:
        forget_side((entry.cloud, project_id), entry.volume_id)


class _Side:
    """The side answers of one page load: taken from the memos when `reuse` allows and they hold them, fetched
    (concurrently) and kept otherwise. `age` is the age of the oldest memo answer used."""

    def __init__(self, reuse: bool) -> None:
        self.reuse = reuse
        self.age = 0.0

    def get(self, memo: Memo[Any, T], key: Any, fetch: Callable[[], T],
            keep: Callable[[T], bool] = lambda _: True) -> Future[T]:
        if self.reuse:
            found = memo.get_aged(key)
            if found is not None:
                self.age = max(self.age, found[1])
                return _ready(found[0])
        return _pool.submit(self._fetch, memo, key, fetch, keep)

    @staticmethod
    def _fetch(memo: Memo[Any, T], key: Any, fetch: Callable[[], T], keep: Callable[[T], bool]) -> T:
        value = fetch()
        if keep(value):
            memo.put(key, value)
        return value


def load_volume_page(cloud: Cloud, volume_id: str, *, image_ids: list[str] | None = None,
                     reuse: bool = False, meanwhile: Callable[[], object] | None = None) -> VolumePage:
    """Everything the volume page shows. In full (action POSTs, watchers, a stream's refresh) that is three Cinder
    calls made at once (the volume, its snapshots, the project's limits) and Nova's server list; the version
    document and the volume types come from short memos, and the user messages are asked for again only once
    the volume has changed. With `reuse` (a page GET) the snapshots, limits, servers and instance actions come
    from the project's memos where they hold them (SIDE_TTL): in steady state the volume GET is the only call,
    and `side_age` says how old the oldest reused answer is. `meanwhile` (the page's History read) runs on this
    thread while the volume GET is in flight on the pool, instead of after it."""
    features = cloud_features(cloud)
    scope = _scope(cloud)
    side = _Side(reuse)
    snaps_f = side.get(_snapshots, (*scope, volume_id), partial(cloud.cinder.list_snapshots, volume_id))
    limits_f = side.get(_limits, scope, partial(_optional, cloud.cinder.get_limits, None),
                        keep=lambda found: found is not None)
    servers_f = (side.get(_server_lists, scope, partial(_servers, cloud), keep=lambda found: not found[1])
                 if features.has_compute else None)
    types = _types.get(scope)
    types_f = _pool.submit(volume_types, cloud) if types is None else _ready(types)
    images_f = None
    if features.has_image and features.versions.supports(MV_REIMAGE):
        cached = _images.get(scope)
        images_f = _pool.submit(_optional, partial(project_images, cloud), []) if cached is None else _ready(cached)
    messages_f = None
    if not _messages_memoized(cloud, volume_id):
        messages_f = _pool.submit(_optional, lambda: cloud.cinder.user_messages(volume_id), None)
    if meanwhile is None:
        # The volume in this thread while the pool fetches the rest: in steady state it is the only call, and
        # handing it to the pool would only add a thread switch to the page's one wait.
        volume = cloud.cinder.get_volume(volume_id)
    else:
        # Unless this thread has its own work to do while Cinder answers (a thread switch is ~0.1 ms; the History
        # read on a page load ~0.5 ms).
        volume_f = _pool.submit(contextvars.copy_context().run, cloud.cinder.get_volume, volume_id)  # request id
        meanwhile()
        volume = volume_f.result()
    _read_by(cloud, volume_id)
    servers, servers_problem = servers_f.result() if servers_f else ([], "")
    page = VolumePage(
        volume=volume, features=features, snapshots=snaps_f.result(),
        types=types_f.result(),
        limits=limits_f.result(), messages=user_messages(cloud, volume, messages_f),
        servers=servers, servers_problem=servers_problem,
        project_images=images_f.result() if images_f else [],
    )
    if features.has_compute and volume.attachments:
        # Nova's side of an in-use extend (extend_volume) shows on the server's instance actions.
        server_ids = sorted({a.server_id for a in volume.attachments if a.server_id})
        found = {server_id: side.get(_instance_actions, (*scope, server_id),
                                     partial(_optional, partial(cloud.nova.instance_actions, server_id), None),
                                     keep=lambda actions: actions is not None)
                 for server_id in server_ids}
        for server_id, actions_f in found.items():
            page.instance_actions[server_id] = actions_f.result() or []
    if features.has_image:
        for image_id in image_ids or []:
            image = _optional(partial(cloud.glance.get_image, image_id), _UNANSWERED)
            if image is not _UNANSWERED:
                page.images[image_id] = image
    page.side_age = side.age
    return page


# --- an action POST: its fresh state, and the page its answer shows ---------------------------------------------
# What an action's form and availability may read of the page beyond the volume, the cloud's features and the
# volume types (volumes.actions.ActionSpec.needs).
STATE_PARTS = frozenset({"snapshots", "limits", "servers", "project_images"})


def load_action_state(cloud: Cloud, volume_id: str, needs: frozenset[str]) -> VolumePage:
    """What an action POST checks its form against, read from the cloud now: the volume, and of the page only the
    parts its action reads (`needs`, of STATE_PARTS), fetched at once; the version document, volume types and
    project images come from the same memos as the page's. The rest stays empty, so the result is for checking the
    form only: `answer_page` makes the page an answer shows."""
    unknown = needs - STATE_PARTS
    if unknown:
        raise ValueError(f"not parts of an action's state: {sorted(unknown)}")
    features = cloud_features(cloud)
    snaps_f = _pool.submit(cloud.cinder.list_snapshots, volume_id) if "snapshots" in needs else None
    limits_f = _pool.submit(_optional, cloud.cinder.get_limits, None) if "limits" in needs else None
    servers_f = _pool.submit(_servers, cloud) if "servers" in needs and features.has_compute else None
    images: list[Image] = []
    if "project_images" in needs and features.has_image and features.versions.supports(MV_REIMAGE):
        images = _optional(partial(project_images, cloud), [])
    # The volume on this thread: an action needing nothing else (most of them) crosses to no other thread.
    volume = cloud.cinder.get_volume(volume_id)
    _read_by(cloud, volume_id)
    servers, servers_problem = servers_f.result() if servers_f else ([], "")
    return VolumePage(volume=volume, features=features, snapshots=snaps_f.result() if snaps_f else [],
                      types=volume_types(cloud), limits=limits_f.result() if limits_f else None, servers=servers,
                      messages=[], servers_problem=servers_problem, project_images=images)


# The rest of the page an action's answer shows (snapshots, quota, servers, messages, Nova's instance actions),
# per token and volume, as an answer last loaded it. Only what an answer displays around the volume comes from
# here, never what a form is checked against (load_action_state reads that now), and for at most this long: the
# status stream brings the page as the watcher loads it once the volume moves on, and the next page load reads
# everything again.
ANSWER_REST_TTL = 10.0
_answer_rest: Memo[tuple[str, str, str], VolumePage] = Memo("volumes.answer_rest", ANSWER_REST_TTL)


def answer_page(cloud: Cloud, state: VolumePage, needs: frozenset[str], *, refresh: bool,
                load: bool = True, read: Callable[[], Volume | None] | None = None) -> VolumePage:
    """The page an action POST answers with: the volume fetched again after the cloud took the action (`refresh`;
    one Cinder GET) or as `state` read it, the parts `state` read for the check (`needs`), and the rest as this
    token's last answer on the volume loaded it within ANSWER_REST_TTL — or loaded now, with the volume. Without
    `load` nothing is asked of the cloud: the rest is the memo's or left empty. `read` gives the volume as read
    after the action by someone else (the watcher that follows it, watchers.polled_after), or None: then the
    GET is this answer's own."""
    key = (cloud.config.auth_url, cloud.token_id, state.volume.id)
    rest = _answer_rest.get(key)
    volume = state.volume
    if rest is None and load:
        rest = load_volume_page(cloud, state.volume.id)
        _answer_rest.put(key, rest)
        volume = rest.volume if refresh else state.volume
    elif refresh:
        volume = (read() if read is not None else None) or cloud.cinder.get_volume(state.volume.id)
    if rest is None:
        rest = state
    checked: dict[str, Any] = {part: getattr(state, part) for part in needs}
    if "servers" in needs:
        checked["servers_problem"] = state.servers_problem
    return replace(rest, volume=volume, features=state.features, types=state.types, **checked)



def attempt(project_id: str, volume_id: str, attempt_uuid: str) -> AuditEntry | None:
    """One attempt on a volume of the project, by its public uuid; None if it is not there (or not theirs)."""
    try:
        return AuditEntry.objects.filter(uuid=attempt_uuid, project_id=project_id, volume_id=volume_id).first()
    except ValidationError:  # not a UUID
        return None


def with_recorded_hosts(page: VolumePage, project_id: str) -> VolumePage:
    """The page with the host names volpanel recorded (a database read: views and the watcher add them, so that
    rendering needs none)."""
    return replace(page, recorded_hosts=recorded_host_names(project_id, page.volume))


def recorded_host_names(project_id: str, volume: Volume) -> dict[str, str]:
    """The host name volpanel recorded for each of the volume's host attachments Cinder names no host for (real
    Cinder answers host_name null for an os-attach attachment, captures 14 and 21), by attachment id: from the
    succeeded os-attach that made it, matched as its judge matched it (new since the attach, same mountpoint)."""
    unnamed = [a for a in volume.attachments if not a.server_id and not a.host_name]
    if not unnamed:
        return {}
    rows = AuditEntry.objects.for_volume(project_id, volume.id).filter(
        action="os-attach", outcome=Outcome.SUCCEEDED).order_by("-requested_at")[:50]
    found: dict[str, str] = {}
    for row in rows:  # newest first: a later attach at the same mountpoint is the one that made it
        params = row.parameters or {}
        host, before = params.get("host_name"), set(params.get("attachments_before") or ())
        if not host:
            continue
        match = next((a for a in unnamed if a.attachment_id not in found and a.attachment_id not in before
                      and a.device == params.get("mountpoint")), None)
        if match is not None:
            found[match.attachment_id] = str(host)
    return found


# The History's SQL as Django writes it for AuditEntry.objects.for_volume(...)[:limit], kept per database and limit:
# every page, answer and watcher publish reads it, and building the QuerySet's SQL each time cost as much as running
# it and making the rows (0.65 -> 0.39 ms for 20 rows).
_HISTORY_SQL: dict[tuple[str, int], tuple[str, tuple[str, ...]]] = {}
_PROJECT, _VOLUME = "\x00project", "\x00volume"  # stand-ins for the parameters, mapped back on each read


def history(project_id: str, volume_id: str, limit: int = 20) -> list[AuditEntry]:
    key = (AuditEntry.objects.db, limit)
    if key not in _HISTORY_SQL:
        sql, params = AuditEntry.objects.for_volume(_PROJECT, _VOLUME)[:limit].query.sql_with_params()
        _HISTORY_SQL[key] = (sql, tuple(params))
    sql, stand_ins = _HISTORY_SQL[key]
    values = {_PROJECT: project_id, _VOLUME: volume_id}
    rows = list(AuditEntry.objects.raw(sql, [values[p] for p in stand_ins]))
    for entry in rows:
        entry.by_cloud_admin = entry.project_id != project_id  # a repair from outside: no name shown
    return rows
