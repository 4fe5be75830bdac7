"""The fault matrix: every seed action posted as a tenant while the demo cloud fails in each way it can (HTTP
faults on the action's own call, timeouts, dropped and refused connections, expired tokens, Glance or Nova
down, a backend failure after the 202). Each case checks what the tenant reads, that the volume page still
renders, and that the attempt's audit row exists and ends with the right outcome. Each case records the action
calls the cloud served and the rows written; `bench/fault_matrix.py` sums them (cases tried, rows lost)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from tests.conftest import DEMO_PORT, Demo, web_login
from tests.live_server import action_calls
from tests.tcp_proxy import TcpProxy
from volpanel.audit.models import AuditEntry, Outcome
from volpanel.cloud import cloud_config
from volpanel.openstack import session as os_session
from volpanel.openstack.cloud import Cloud
from volpanel.volumes import actions, outcomes, selectors, services, watchers

pytestmark = pytest.mark.django_db(transaction=True)

WEB_ROOT_ATTACHMENT = "56a12722-9dce-50a1-97a1-93c593e20820"
CINDER_ACTION = ("volume", "POST", "/action")
NOVA_ATTACH = ("compute", "POST", "/os-volume_attachments")
NOVA_DETACH = ("compute", "DELETE", "/os-volume_attachments")


@dataclass(frozen=True)
class Act:
    form: str  # the action's URL segment and form
    volume: str
    data: Callable[[Demo], dict[str, str]]
    call: tuple[str, str, str]  # service, method, path part of the call that carries the action
    backend: str = ""  # the demo's after-202 fault for it, if the demo can stage one
    failed_detail: str = ""  # what the settled row says after that fault


UPLOAD = {"disk_format": "qcow2", "container_format": "bare", "visibility": "private"}
ACTS = {
    "extend": Act("extend", "data-01", lambda d: {"new_size": "11"}, CINDER_ACTION, "extend",
                  "extend volume: Volume Driver failed to extend volume."),
    "extend_in_use": Act("extend", "web-root", lambda d: {"new_size": "21"}, CINDER_ACTION, "extend",
                         "extend volume: Volume Driver failed to extend volume."),
    "attach_host": Act("attach_host", "scratch",
                       lambda d: {"host_name": "bm-7", "mountpoint": "/dev/sdb", "mode": "rw"}, CINDER_ACTION),
    "attach_server": Act("attach_server", "scratch", lambda d: {"server_id": d.server_id("db-1")}, NOVA_ATTACH),
    "detach_server": Act("detach", "web-root", lambda d: {"attachment_id": WEB_ROOT_ATTACHMENT}, NOVA_DETACH),
    "detach_host": Act("detach", "scratch", lambda d: {"attachment_id": d.volume("scratch")["attachments"][0][
        "attachment_id"]}, CINDER_ACTION),
    "retype": Act("retype", "data-01", lambda d: {"new_type": "gold", "migration_policy": "never"}, CINDER_ACTION,
                  "retype", "Cinder kept the type default: the backend could not change it to gold."),
    "upload": Act("upload", "data-01", lambda d: {"image_name": "fault-image", **UPLOAD}, CINDER_ACTION, "upload",
                  "copy volume to image: Failed to upload volume to image at backend."),
    "upload_snapshot": Act("upload_snapshot", "data-01", lambda d: {
        "image_name": "fault-snap-image", "snapshot_id": d.snapshot_id("data-01-snap-mon"), **UPLOAD},
        CINDER_ACTION, "upload", "copy volume to image: Failed to upload volume to image at backend."),
    "revert": Act("revert", "data-01", lambda d: {"snapshot_id": d.snapshot_id("data-01-snap-tue"), "confirm": "on"},
                  CINDER_ACTION, "revert", "The revert left the volume error."),
}
STATUSES = (400, 403, 404, 409, 413, 500, 503)
FAULTS = (*[str(s) for s in STATUSES], "timeout", "dropped", "refused", "refused-at-action", "expired-token",
          "401-at-action", "backend", "glance-down", "nova-down")


def applies(act: Act, fault: str) -> bool:
    if fault == "backend":
        return bool(act.backend)
    if fault == "glance-down":
        return act.form.startswith("upload")
    if fault == "nova-down":
        return act.call[0] == "compute" or act.volume == "web-root"
    return True


CASES = [(name, fault) for name, act in ACTS.items() for fault in FAULTS if applies(act, fault)]


@pytest.fixture(scope="module")
def proxy(democloud_process: str) -> Iterator[TcpProxy]:
    """The cloud reached through a forwarder the test can take down: a refused connection is a real one."""
    proxy = TcpProxy("127.0.0.1", DEMO_PORT)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def tenant(demo: Demo, proxy: TcpProxy, client: Client, transactional_db: Any, monkeypatch: Any) -> Client:
    from django.conf import settings

    monkeypatch.setitem(settings.OPENSTACK, "auth_url", f"http://{proxy.url_host}/identity/v3")
    web_login(client, "alice", "demo")
    return client


def rule(act: Act, **what: Any) -> dict[str, Any]:
    service, method, path = act.call
    return {"service": service, "method": method, "path": path, **what}


def flash(page: str) -> str:
    found = re.findall(r'class="flash flash-[a-z]+"[^>]*>(.*?)</', page, re.S)
    return html.unescape(" ".join(" ".join(f.split()) for f in found))


def settled_rows() -> list[AuditEntry]:
    assert watchers.wait_idle(30), "a watcher never settled"
    return list(AuditEntry.objects.order_by("id"))


@pytest.mark.parametrize(("name", "fault"), CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_it_survives_every_fault_on_every_action(name: str, fault: str, demo: Demo, tenant: Client,
                                                 proxy: TcpProxy, monkeypatch: Any, record_property: Any) -> None:
    from django.conf import settings

    act = ACTS[name]
    if name == "detach_host":
        # A host attachment to take away, made as the tenant would (and not counted as the attempt).
        cloud = Cloud.connect(cloud_config(), os_session.Credentials.from_json(
            tenant.session["volpanel.credentials"]))
        cloud.cinder.attach(demo.volume("scratch")["id"], "/dev/sdb", host_name="bm-7")
        demo.wait_for("scratch", lambda v: v["status"] == "in-use")
    volume_id = demo.volume(act.volume)["id"]
    url, page_url = f"/volumes/{volume_id}/{act.form}/", f"/volumes/{volume_id}/"
    data = act.data(demo)
    calls_before = action_calls(demo)
    message = f"Injected {fault} fault on {name}."

    def outcome() -> tuple[int, list[AuditEntry]]:
        rows = settled_rows()
        calls = action_calls(demo) - calls_before
        lost = max(calls - len(rows), 0) + sum(1 for r in rows if not r.is_final)
        record_property("action_calls", calls)
        record_property("rows", len(rows))
        record_property("rows_lost", lost)
        assert lost == 0, [(r.outcome, r.detail) for r in rows]
        return calls, rows

    def page_after(response: Any) -> str:
        """Follow the post's redirect: the volume page renders, with what the tenant is told."""
        assert response.status_code == 302 and response["Location"] == page_url, response.content[:300]
        page = tenant.get(page_url)
        body = page.content.decode()
        assert page.status_code == 200 and "Traceback" not in body
        return flash(body)

    def relogin_and_find_form(response: Any) -> None:
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
        back = tenant.post("/login/", {"username": "alice", "password": "demo", "project": "demo",
                                       "next": page_url})
        assert back.status_code == 302 and back["Location"] == page_url
        body = tenant.get(page_url).content.decode()
        assert f'data-action="{act.form}" open' in body and "Traceback" not in body

    if fault.isdigit():
        status = int(fault)
        demo.faults(http=[rule(act, status=status, message=message, times=1)])
        told = page_after(tenant.post(url, data))
        calls, rows = outcome()
        assert calls == 1 and [(r.outcome, r.http_status, r.detail) for r in rows] == [
            (Outcome.REJECTED, status, message)]
        lead = f"failed inside the cloud (HTTP {status}): " if status >= 500 else "refused by the cloud: "
        assert lead + message in told, told
    elif fault in ("timeout", "dropped"):
        if fault == "timeout":
            monkeypatch.setitem(settings.OPENSTACK, "timeout", 1.5)
            demo.faults(http=[rule(act, delay=2.5, times=1)])
        else:
            demo.faults(http=[rule(act, close=True, times=1)])
        told = page_after(tenant.post(url, data))
        calls, rows = outcome()
        (row,) = rows
        assert calls == 1 and row.outcome == Outcome.UNKNOWN and row.fault_name == fault.replace(
            "dropped", "connection")
        reason = "did not answer in time." if fault == "timeout" else "closed the connection without answering."
        assert reason in row.detail and services.UNANSWERED_GUIDANCE in row.detail
        assert "sent, but the cloud did not answer: " in told and services.UNANSWERED_GUIDANCE in told, told
        if fault == "timeout":
            time.sleep(1.5)  # the delayed request still reaches the cloud: let it land in this test, not the next
    elif fault == "refused":
        proxy.stop()
        try:
            response = tenant.post(url, data)
            body = response.content.decode()
            assert response.status_code == 502 and "could not be reached." in body and "Traceback" not in body
        finally:
            proxy.start()
        calls, rows = outcome()
        assert calls == 0 and rows == []  # the page's own reads failed first: nothing was attempted
        assert tenant.get(page_url).status_code == 200
    elif fault == "refused-at-action":
        # The window the page load leaves: the cloud goes away between reading the volume and acting on it.
        creds = os_session.Credentials.from_json(tenant.session["volpanel.credentials"])
        cloud = Cloud.connect(cloud_config(), creds)
        page = selectors.load_volume_page(cloud, volume_id)
        proxy.stop()
        try:
            entry = run_service(name, cloud, creds, page, data)
        finally:
            proxy.start()
        calls, rows = outcome()
        assert calls == 0 and [(r.outcome, r.pk, r.fault_name) for r in rows] == [
            (Outcome.ERROR, entry.pk, "connection")]
        assert rows[0].detail == f"{act.call[0]} could not be reached."
        assert tenant.get(page_url).status_code == 200
    elif fault == "expired-token":
        os_session.revoke(cloud_config(),
                          os_session.Credentials.from_json(tenant.session["volpanel.credentials"]))
        relogin_and_find_form(tenant.post(url, data))
        calls, rows = outcome()
        assert calls == 0 and rows == []
    elif fault == "401-at-action":
        demo.faults(http=[rule(act, status=401, times=1)])
        relogin_and_find_form(tenant.post(url, data))
        calls, rows = outcome()
        assert calls == 1 and [(r.outcome, r.http_status) for r in rows] == [(Outcome.ERROR, 401)]
    elif fault == "backend":
        demo.faults(backend={act.backend: "fail" if act.backend != "retype" else "silent"})
        assert "accepted by the cloud" in page_after(tenant.post(url, data))
        calls, rows = outcome()
        assert calls == 1 and [r.outcome for r in rows] == [Outcome.FAILED]
        assert act.failed_detail in rows[0].detail
        if act.backend == "extend":
            assert outcomes.EXTEND_GUIDANCE in rows[0].detail
        assert tenant.get(page_url).status_code == 200
    elif fault == "glance-down":
        demo.faults(http=[{"service": "image", "status": 503}])
        assert "accepted by the cloud" in page_after(tenant.post(url, data))
        image_id = AuditEntry.objects.get().image_id
        deadline = time.monotonic() + 10
        while demo.state()["images"].get(image_id, {}).get("status") != "active":
            assert time.monotonic() < deadline, "the demo never finished the upload"
            time.sleep(0.05)
        time.sleep(5 * settings.VOLPANEL_POLL_INTERVAL)  # several polls with Glance silent
        assert AuditEntry.objects.get().outcome == Outcome.ACCEPTED  # not judged failed while Glance is down
        demo.clear_faults()
        calls, rows = outcome()
        assert calls == 1 and [r.outcome for r in rows] == [Outcome.SUCCEEDED]
    elif fault == "nova-down":
        demo.faults(http=[{"service": "compute", "status": 503, "message": message}])
        response = tenant.post(url, data)
        if name == "attach_server":
            body = response.content.decode()
            assert response.status_code == 400 and f"Compute (Nova) did not list your servers ({message})" in body
            calls, rows = outcome()
            assert calls == 0 and rows == []
        elif name == "detach_server":
            assert f"failed inside the cloud (HTTP 503): {message}" in page_after(response)
            calls, rows = outcome()
            assert [(r.outcome, r.http_status) for r in rows] == [(Outcome.REJECTED, 503)]
        else:  # extend in use: Nova only adds the server's instance actions to the page
            assert "accepted by the cloud" in page_after(response)
            calls, rows = outcome()
            assert calls == 1 and [r.outcome for r in rows] == [Outcome.SUCCEEDED]
    else:
        raise AssertionError(f"no check for {fault}")


def run_service(name: str, cloud: Cloud, creds: Any, page: selectors.VolumePage, data: dict[str, str]) -> AuditEntry:
    """What the view's form would call, with the form's cleaned values."""
    common = {"cloud": cloud, "actor": services.Actor(credentials=creds, source_ip="127.0.0.1", user_agent="pytest"),
              "volume": page.volume}
    if name.startswith("extend"):
        return actions.run("extend", **common, new_size=int(data["new_size"]))
    if name == "attach_host":
        return actions.run("attach_host", **common, host_name=data["host_name"], mountpoint=data["mountpoint"],
                                           mode=data["mode"])
    if name == "attach_server":
        return actions.run("attach_server", **common, server_id=data["server_id"])
    if name.startswith("detach"):
        return actions.run("detach", **common, attachment_id=data["attachment_id"])
    if name == "retype":
        return actions.run("retype", **common, new_type=data["new_type"], migration_policy=data["migration_policy"])
    if name.startswith("upload"):
        return actions.run("upload", **common, image_name=data["image_name"], disk_format="qcow2",
                                            container_format="bare", visibility="private", protected=False,
                                            snapshot_id=data.get("snapshot_id", ""))
    return actions.run("revert", **common, snapshot_id=data["snapshot_id"])
