"""Every action writes its audit row before the cloud is called and moves it to its true outcome."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from django.db import transaction

from tests.conftest import Demo
from tests.volumes.test_views import action_posts
from volpanel.audit.models import AuditEntry, Outcome
from volpanel.cloud import cloud_config
from volpanel.openstack.cloud import Cloud
from volpanel.volumes import actions, services, watchers

pytestmark = pytest.mark.django_db(transaction=True)


def actor(creds: Any) -> services.Actor:
    return services.Actor(credentials=creds, source_ip="127.0.0.1", user_agent="pytest")


def settle(entry: AuditEntry) -> AuditEntry:
    assert watchers.wait_idle(20), "the watcher never settled"
    return AuditEntry.objects.get(pk=entry.pk)


def run(demo: Demo, creds: Any, volume_name: str, fn: Any, **kwargs: Any) -> AuditEntry:
    cloud = Cloud.connect(cloud_config(), creds)
    volume = cloud.cinder.get_volume(demo.volume(volume_name)["id"])
    return fn(cloud=cloud, actor=actor(creds), volume=volume, **kwargs)


def test_it_extends_and_records_the_whole_story(demo: Demo, alice) -> None:
    entry = run(demo, alice, "data-01", partial(actions.run, "extend"), new_size=12)
    assert entry.outcome == Outcome.ACCEPTED and entry.http_status == 202 and entry.request_id.startswith("req-")
    row = settle(entry)
    assert row.outcome == Outcome.SUCCEEDED and row.settled_at and row.answered_at
    assert (row.status_before, row.status_after) == ("available", "available")
    assert row.parameters == {"new_size": 12, "old_size": 10}
    assert (row.actor_name, row.project_name, row.action, row.microversion) == ("alice", "demo", "os-extend", "3.0")
    assert row.source_ip == "127.0.0.1" and row.user_agent == "pytest" and row.volume_name == "data-01"
    assert demo.volume("data-01")["size"] == 12


def test_the_watcher_settles_its_own_copy_of_the_row_not_the_callers(demo: Demo, alice) -> None:
    # The view renders its answer from the entry it got back while the watcher may already settle the row:
    # were they one object, the answer could say "accepted" with the settled outcome's data and no stream link.
    demo.config(delay=0.0)
    entry = run(demo, alice, "data-01", partial(actions.run, "extend"), new_size=12)
    row = settle(entry)
    assert row.outcome == Outcome.SUCCEEDED
    assert entry.outcome == Outcome.ACCEPTED and entry.settled_at is None


@pytest.mark.django_db  # a test's transaction: the row is never committed
def test_the_watcher_starts_only_once_the_row_is_committed(demo: Demo, alice,
                                                           django_capture_on_commit_callbacks: Any) -> None:
    # Calling a service starts no thread until the row is committed: no watcher may judge a row the database
    # could still lose, and a test inside a transaction has no thread to wait for.
    demo.config(delay=0.0)
    vid = demo.volume("data-01")["id"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        entry = run(demo, alice, "data-01", partial(actions.run, "extend"), new_size=12)
    assert entry.outcome == Outcome.ACCEPTED and len(callbacks) == 1
    assert watchers.watch_of(vid) is None and watchers.unsettled_entries() == 0


def test_an_attempt_inside_a_caller_s_transaction_is_refused_before_the_cloud_hears_of_it(demo: Demo, alice) -> None:
    # The row must be committed before the cloud is called (no action without its row): inside someone's
    # transaction it would not be, and could be rolled back after the cloud acted.
    before = action_posts(demo)
    with pytest.raises(RuntimeError), transaction.atomic():
        run(demo, alice, "data-01", partial(actions.run, "extend"), new_size=12)
    assert action_posts(demo) == before and not AuditEntry.objects.exists()


def test_it_extends_an_attached_volume_at_3_42_and_names_the_server(demo: Demo, alice) -> None:
    row = settle(run(demo, alice, "web-root", partial(actions.run, "extend"), new_size=21))
    assert row.outcome == Outcome.SUCCEEDED and row.microversion == "3.42" and row.server_id
    assert row.status_after == "in-use"


def test_it_records_a_refusal_with_the_fault(demo: Demo, alice) -> None:
    entry = run(demo, alice, "data-01", partial(actions.run, "extend"), new_size=10_000)
    row = AuditEntry.objects.get(pk=entry.pk)
    assert row.outcome == Outcome.REJECTED and row.http_status == 413 and row.fault_name == "overLimit"
    assert "quota" in row.detail and row.settled_at is not None


def test_it_records_a_driver_failure_after_the_202_with_cinder_s_message(demo: Demo, alice) -> None:
    demo.faults(backend={"extend": "fail"})
    row = settle(run(demo, alice, "data-01", partial(actions.run, "extend"), new_size=11))
    assert row.outcome == Outcome.FAILED and row.status_after == "error_extending"
    assert "extend volume" in row.detail.lower() and "administrator" in row.detail


def test_it_judges_a_silent_retype_failure_by_the_type(demo: Demo, alice) -> None:
    ok = settle(run(demo, alice, "scratch", partial(actions.run, "retype"), new_type="gold", migration_policy="never"))
    assert ok.outcome == Outcome.SUCCEEDED and demo.volume("scratch")["volume_type"] == "gold"
    demo.faults(backend={"retype": "silent"})
    row = settle(run(demo, alice, "data-01", partial(actions.run, "retype"), new_type="gold", migration_policy="never"))
    assert row.outcome == Outcome.FAILED and "kept the type default" in row.detail


def test_a_host_attach_counts_only_an_attachment_the_volume_did_not_have_before() -> None:
    """A multi-attach volume already on server-1 at /dev/vdb: a host attach at /dev/vdb that Cinder failed must
    not be taken for a success because of the attachment that was there before."""
    from volpanel.openstack.cinder import Attachment, Volume

    server_one = Attachment("att-1", "server-1", None, "/dev/vdb", "2026-11-27T10:00:00")
    volume = Volume(id="v", name="shared", status="in-use", size=1, volume_type="default", bootable=False,
                    multiattach=True, project_id="p", availability_zone="nova", created_at="", updated_at=None,
                    description="", attachments=(server_one,))
    entry = AuditEntry(action=actions.ATTACH.name, parameters={"host_name": "host-b", "mountpoint": "/dev/vdb",
                                                         "mode": "rw", "attachments_before": ["att-1"]})
    outcome, _ = actions.judge(entry, volume)
    assert outcome == Outcome.FAILED
    # Rows written before the attachments were recorded: still no server attachment passes for a host's.
    legacy = AuditEntry(action=actions.ATTACH.name, parameters={"host_name": "host-b", "mountpoint": "/dev/vdb"})
    assert actions.judge(legacy, volume)[0] == Outcome.FAILED
    host_b = Attachment("att-2", None, None, "/dev/vdb", "2026-11-27T10:05:00")
    attached = Volume(**{**volume.__dict__, "attachments": (server_one, host_b)})
    assert actions.judge(entry, attached) == (Outcome.SUCCEEDED, "Attached at /dev/vdb.")


def test_it_attaches_and_detaches_through_nova_and_by_host(demo: Demo, alice) -> None:
    servers = {name: demo.server_id(name) for name in ("web-1", "db-1")}
    row = settle(run(demo, alice, "scratch", partial(actions.run, "attach_server"), server_id=servers["db-1"]))
    assert row.outcome == Outcome.SUCCEEDED and row.action == actions.SERVER_ATTACH.name
    attachment = demo.volume("scratch")["attachments"][0]
    assert attachment["server_id"] == servers["db-1"]
    row = settle(run(demo, alice, "scratch", partial(actions.run, "detach"), attachment_id=attachment["attachment_id"]))
    assert row.outcome == Outcome.SUCCEEDED and row.action == actions.SERVER_DETACH.name
    assert demo.volume("scratch")["status"] == "available"

    attach_host = partial(actions.run, "attach_host")
    row = settle(run(demo, alice, "scratch", attach_host, host_name="bm-7", mountpoint="/dev/sdb", mode="rw"))
    assert row.outcome == Outcome.SUCCEEDED and row.action == actions.ATTACH.name
    host_attachment = demo.volume("scratch")["attachments"][0]
    row = settle(run(demo, alice, "scratch", partial(actions.run, "detach"),
                     attachment_id=host_attachment["attachment_id"]))
    assert row.outcome == Outcome.SUCCEEDED and row.action == actions.DETACH.name

    row = settle(run(demo, alice, "scratch", partial(actions.run, "attach_instance"), instance_uuid=servers["web-1"],
                     mountpoint="/dev/vdc", mode="rw"))
    assert row.outcome == Outcome.SUCCEEDED and row.server_id == servers["web-1"]


def test_it_uploads_volume_and_snapshot_and_waits_for_glance(demo: Demo, alice) -> None:
    row = settle(run(demo, alice, "data-01", partial(actions.run, "upload"), image_name="golden",
                     disk_format="qcow2", container_format="bare", visibility="private", protected=False))
    assert row.outcome == Outcome.SUCCEEDED and row.image_id and "active" in row.detail
    snapshot = {"id": demo.snapshot_id("data-01-snap-mon")}
    row = settle(run(demo, alice, "data-01", partial(actions.run, "upload"), image_name="from-snap",
                     disk_format="raw", container_format="bare", visibility="private", protected=False,
                     snapshot_id=snapshot["id"]))
    assert row.outcome == Outcome.SUCCEEDED and row.snapshot_id == snapshot["id"]

    demo.faults(backend={"upload": "fail"})
    row = settle(run(demo, alice, "data-01", partial(actions.run, "upload"), image_name="doomed",
                     disk_format="qcow2", container_format="bare", visibility="private", protected=False))
    assert row.outcome == Outcome.FAILED and row.detail


def test_it_reverts_to_the_latest_snapshot_and_records_a_failed_revert(demo: Demo, alice) -> None:
    latest = {"id": demo.snapshot_id("data-01-snap-tue")}
    row = settle(run(demo, alice, "data-01", partial(actions.run, "revert"), snapshot_id=latest["id"]))
    assert row.outcome == Outcome.SUCCEEDED and row.microversion == "3.40"
    demo.faults(backend={"revert": "fail"})
    row = settle(run(demo, alice, "data-01", partial(actions.run, "revert"), snapshot_id=latest["id"]))
    assert row.outcome == Outcome.FAILED and row.status_after == "error"


def test_it_records_an_error_when_cinder_cannot_be_reached(demo: Demo, alice) -> None:
    demo.faults(http=[{"service": "volume", "method": "POST", "path": "/action", "status": 503}])
    row = AuditEntry.objects.get(pk=run(demo, alice, "data-01", partial(actions.run, "extend"), new_size=11).pk)
    assert row.outcome == Outcome.REJECTED and row.http_status == 503
    demo.clear_faults()
    demo.faults(http=[{"service": "volume", "method": "POST", "path": "/action", "close": True}])
    row = AuditEntry.objects.get(pk=run(demo, alice, "data-01", partial(actions.run, "extend"), new_size=11).pk)
    # The request went out before the connection dropped: whether Cinder acted is not known.
    assert row.outcome == Outcome.UNKNOWN and services.UNANSWERED_GUIDANCE in row.detail
    assert AuditEntry.objects.count() == 2 and not AuditEntry.objects.unsettled().exists()
