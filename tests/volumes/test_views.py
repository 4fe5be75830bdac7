"""Pages and htmx fragments, each as a full page and as a partial; bad input never reaches Cinder."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.test import Client

from tests.conftest import Demo, web_login
from volpanel.audit.models import AuditEntry, Outcome
from volpanel.lib import memo
from volpanel.lib.memo import Memo
from volpanel.volumes import watchers

pytestmark = pytest.mark.django_db(transaction=True)
HTMX = {"HTTP_HX_REQUEST": "true"}


def action_posts(demo: Demo) -> int:
    """Cinder action POSTs, volume PUTs, snapshot POSTs and DELETEs and Nova attach calls the demo cloud has served
    so far."""
    served = demo.requests_served()
    return sum(n for key, n in served.items()
               if (key.startswith("POST") and ("/action" in key or "os-volume_attachments" in key))
               or key.startswith("PUT") or (key.split(" ")[0] in ("POST", "DELETE") and "/snapshots" in key))


def test_it_logs_in_with_keystone_and_keeps_the_token_on_the_server(demo: Demo, client: Client) -> None:
    assert client.get("/volumes/").status_code == 302
    page = client.get("/login/")
    assert page.status_code == 200 and b'<label for="id_username">' in page.content
    bad = client.post("/login/", {"username": "alice", "password": "nope", "project": "demo"})
    assert bad.status_code == 401 and b"user name, password or project is not right" in bad.content
    before = client.cookies.get("sessionid")
    web_login(client, "alice", "demo")
    assert client.cookies["sessionid"].value != (before.value if before else None)
    listing = client.get("/volumes/")
    assert listing.status_code == 200 and b"data-01" in listing.content and b"bob-secret" not in listing.content
    token = client.session["volpanel.credentials"]
    import json

    raw_token = json.loads(json.loads(token)["auth_state"])["auth_token"]
    for response in (listing, client.get(f"/volumes/{demo.volume('data-01')['id']}/")):
        assert raw_token.encode() not in response.content
        assert all(raw_token not in v.value for v in response.cookies.values())
    assert client.post("/logout/").status_code == 302
    assert client.get("/volumes/").status_code == 302


def test_it_renders_the_list_and_detail_pages_and_their_partials(demo: Demo, alice_client: Client) -> None:
    partial = alice_client.get("/volumes/", **HTMX)
    assert partial.status_code == 200 and b"<html" not in partial.content and b"data-01" in partial.content
    vid = demo.volume("data-01")["id"]
    page = alice_client.get(f"/volumes/{vid}/")
    body = page.content.decode()
    assert page.status_code == 200 and "<html" in body
    for label in ("Extend", "Attach to server", "Attach to host", "Detach", "Change type", "Upload to image",
                  "Upload snapshot to image", "Revert to snapshot"):
        assert re.search(f">{label}( <small>— not available now|<)", body), label
    assert "data-01-snap-tue" in body and "latest" in body
    assert "Detach needs an attachment; this volume is not attached." in body
    assert "GiB of quota left" in body
    assert 'Content-Security-Policy' in page.headers and "unsafe-inline" not in page.headers["Content-Security-Policy"]
    for name in ("status", "actions", "history", "live"):
        fragment = alice_client.get(f"/volumes/{vid}/?partial={name}", **HTMX)
        assert fragment.status_code == 200 and b"<html" not in fragment.content
    in_use = alice_client.get(f"/volumes/{demo.volume('web-root')['id']}/").content.decode()
    assert "Revert needs a snapshot" in in_use and "Upload to image needs the volume to be available" in in_use
    assert "web-1" in in_use and "/dev/vdb" in in_use


def test_it_runs_an_action_with_htmx_and_without_javascript(demo: Demo, alice_client: Client) -> None:
    vid = demo.volume("data-01")["id"]
    response = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "Extend accepted by the cloud" in body
    assert 'sse-connect="/volumes/' in body and "<html" not in body
    assert watchers.wait_idle(20)
    assert AuditEntry.objects.get().outcome == Outcome.SUCCEEDED

    plain = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "12"})
    assert plain.status_code == 302 and plain["Location"] == f"/volumes/{vid}/"
    follow = alice_client.get(plain["Location"])
    assert b"Extend accepted by the cloud" in follow.content
    assert watchers.wait_idle(20)
    history = alice_client.get(f"/volumes/{vid}/?partial=history", **HTMX).content.decode()
    assert history.count('data-outcome="succeeded"') == 2


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("extend", {"new_size": "-1"}, "at least 1 GiB"),
        ("extend", {"new_size": "0"}, "at least 1 GiB"),
        ("extend", {"new_size": "10"}, "larger than the current 10 GiB"),
        ("extend", {"new_size": "9"}, "larger than the current 10 GiB"),
        ("extend", {"new_size": "ten"}, "whole number of GiB"),
        ("extend", {"new_size": "99999999999"}, "at most"),
        ("extend", {"new_size": "500"}, "quota left"),
        ("upload", {"image_name": "", "disk_format": "qcow2", "container_format": "bare", "visibility": "private"},
         "Enter a name for the image"),
        ("upload", {"image_name": "x" * 300, "disk_format": "qcow2", "container_format": "bare",
                    "visibility": "private"}, "at most 255 characters"),
        ("retype", {"new_type": "platinum", "migration_policy": "never"}, "Choose one of the cloud"),
        ("revert", {"snapshot_id": "SNAP-MON", "confirm": "on"}, "not the latest one"),
        ("revert", {"snapshot_id": "SNAP-TUE"}, "Tick the box to confirm"),
        ("detach", {"attachment_id": "x"}, "not attached"),
        ("attach_host", {"host_name": "", "mountpoint": "/dev/vdb", "mode": "rw"}, "Enter the host name"),
        ("edit", {"name": "data-01", "description": ""}, "both are as they are now"),
        ("edit", {"name": "  data-01 ", "description": ""}, "both are as they are now"),
        ("edit", {"name": "a\x07b", "description": ""}, "The name can use printable characters only"),
        ("edit", {"name": "x" * 256, "description": ""}, "The name can be at most 255 characters"),
        ("edit", {"name": "data-01", "description": "line\nbreak"}, "The description can use printable characters"),
        # C1 controls (U+009B is the 8-bit terminal escape, U+0085 next line), line and paragraph separators, an
        # unassigned code point: none is printable.
        *[("attach_host", {"host_name": f"web{char}1", "mountpoint": "/dev/vdb", "mode": "rw"},
           "The host name can use printable characters only") for char in "\x9b\x85\u2028\u2029\U000e0fff"],
        ("upload", {"image_name": "img\x9b[2J", "disk_format": "qcow2", "container_format": "bare",
                    "visibility": "private"}, "The image name can use printable characters only"),
        ("attach_host", {"host_name": "web-1", "mountpoint": "/dev/v\u2029db", "mode": "rw"},
         "The mountpoint can use printable characters only"),
        ("bootable", {}, "The volume is already not bootable"),
        ("readonly", {}, "The volume is already read/write: change the box to change it."),
        ("snapshot", {"name": "x" * 256, "description": ""}, "The name can be at most 255 characters"),
        ("delete_snapshot", {"snapshot_id": "SNAP-TUE"}, "Tick the box to confirm: a deleted snapshot"),
        ("delete_snapshot", {"confirm": "on"}, "Choose the snapshot to delete."),
        ("delete_snapshot", {"snapshot_id": "3fa38c0e-2fa7-4244-aba7-bdf63a609ee7", "confirm": "on"},
         "Choose one of this volume&#x27;s snapshots"),
        ("snapshot", {"name": "nightly", "description": "tab\there"}, "The description can use printable"),
        ("snapshot", {"name": "nightly", "description": "\u202e \U0001f600"}, "such as emoji"),
        ("snapshot", {"name": "nightly", "description": "\x80"}, "The description can use printable characters only"),
        ("image_metadata", {"key": "bad*key", "value": "x"}, "The property&#x27;s name can use letters A–Z"),
        ("image_metadata", {"key": "a<b", "value": "x"}, "The property&#x27;s name can use letters A–Z"),
        ("image_metadata", {"key": "k" * 256, "value": "x"}, "The property&#x27;s name can be at most 255"),
        ("image_metadata", {"key": "", "value": "x"}, "Enter the property&#x27;s name"),
        ("image_metadata", {"key": "os_distro", "value": "a\x07b"}, "The value can use printable characters only"),
        ("image_metadata", {"key": "os_distro", "value": "\u20ac" * 21846}, "The value can be at most 65535 bytes"),
        ("image_metadata", {"key": "os_distro"}, "Enter the property&#x27;s value."),
        ("unset_image_metadata", {"key": "os_distro"}, "The volume has no image properties to remove."),
        ("reimage", {"image_id": "CIRROS"}, "Tick the box to confirm: reimaging overwrites the whole volume."),
        ("reimage", {"image_id": "3fa38c0e-2fa7-4244-aba7-bdf63a609ee7", "confirm": "on"},
         "Choose one of the images listed"),
        ("reimage", {"confirm": "on"}, "Choose the image to write to the volume."),
    ],
)
def test_it_refuses_bad_input_without_calling_cinder(demo: Demo, alice_client: Client, action: str,
                                                      data: dict[str, Any], message: str) -> None:
    snapshots = {name: demo.snapshot_id(name) for name in ("data-01-snap-mon", "data-01-snap-tue")}
    data = {k: snapshots["data-01-snap-mon"] if v == "SNAP-MON" else snapshots["data-01-snap-tue"]
            if v == "SNAP-TUE" else next(iter(demo.state()["images"])) if v == "CIRROS" else v
            for k, v in data.items()}
    vid = demo.volume("data-01")["id"]
    before = action_posts(demo)
    fragment = alice_client.post(f"/volumes/{vid}/{action}/", data, **HTMX)
    assert fragment.status_code == 200 and message in fragment.content.decode()
    page = alice_client.post(f"/volumes/{vid}/{action}/", data)
    assert page.status_code == 400 and message in page.content.decode()
    assert action_posts(demo) == before
    assert not AuditEntry.objects.exists()


def test_it_refuses_a_form_that_is_not_utf_8_beside_the_field(demo: Demo, alice_client: Client) -> None:
    """A byte that is not UTF-8 (%FF) became U+FFFD and went to Cinder; now the field says it cannot be read."""
    vid = demo.volume("data-01")["id"]
    before = action_posts(demo)
    for extra in ({}, HTMX):
        response = alice_client.generic("POST", f"/volumes/{vid}/attach_host/",
                                        b"host_name=web%FF1&mountpoint=%2Fdev%2Fvdb&mode=rw",
                                        content_type="application/x-www-form-urlencoded", **extra)
        assert response.context["forms"]["attach_host"].errors["host_name"] == [
            "The host name can use printable characters only, no control characters such as tabs or line breaks "
            "and no bytes that are not UTF-8."]
        assert response.status_code == (200 if extra else 400)
    assert action_posts(demo) == before and not AuditEntry.objects.exists()


def test_it_shows_cinder_s_own_refusal_as_text(demo: Demo, alice_client: Client) -> None:
    # The volume moved under the page (someone else extended it): Cinder refuses, the tenant reads why.
    demo.faults(http=[{"service": "volume", "method": "POST", "path": "/action", "status": 409, "times": 1}])
    vid = demo.volume("data-01")["id"]
    response = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11"}, **HTMX)
    assert response.status_code == 200 and "Extend refused by the cloud" in response.content.decode()
    row = AuditEntry.objects.get()
    assert row.outcome == Outcome.REJECTED and row.http_status == 409


def test_it_keeps_other_projects_volumes_out_of_reach(demo: Demo, alice_client: Client) -> None:
    secret = demo.volume("bob-secret")["id"]
    before = action_posts(demo)
    assert alice_client.get(f"/volumes/{secret}/").status_code == 404
    assert alice_client.post(f"/volumes/{secret}/extend/", {"new_size": "5"}).status_code == 404
    assert alice_client.get("/volumes/not-a-uuid/").status_code == 404
    assert action_posts(demo) == before and not AuditEntry.objects.exists()


def test_it_switches_projects_for_users_with_several(demo: Demo, client: Client) -> None:
    web_login(client, "carol", "demo")
    page = client.get("/volumes/").content.decode()
    assert 'name="project_id"' in page and "data-01" in page
    other_id = next(p["id"] for p in client.session["volpanel.projects"] if p["name"] == "other")
    assert client.post("/project/", {"project_id": other_id}).status_code == 302
    page = client.get("/volumes/").content.decode()
    assert "bob-secret" in page and "data-01" not in page
    client.post("/project/", {"project_id": "0" * 32})
    assert "bob-secret" in client.get("/volumes/").content.decode()


def test_it_throttles_failed_logins_before_keystone_hears_of_them(demo: Demo, client: Client) -> None:
    """Guessing alice's password from one address (as 'alice', 'ALICE ', 'ａｌｉｃｅ': one name) slows that address
    down for alice, before Keystone hears of it; alice elsewhere, and bob here, sign in as usual."""
    from django.core.cache import cache

    from volpanel.accounts import throttle

    cache.clear()

    def token_posts() -> int:
        return sum(n for key, n in demo.requests_served().items() if key.startswith("POST /identity/v3/auth/tokens"))

    for name in ["alice", "ALICE ", "\uff41\uff4c\uff49\uff43\uff45", "Alice", "alice"][:throttle.FREE_PER_PAIR]:
        assert client.post("/login/", {"username": name, "password": "wrong", "project": "demo"}).status_code == 401
    before = token_posts()
    assert before >= throttle.FREE_PER_PAIR  # the failures did reach Keystone
    locked = client.post("/login/", {"username": "alice", "password": "demo", "project": "demo"})
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    assert locked["Retry-After"] == "1"  # the first delay: it doubles with each further failure
    assert token_posts() == before
    web_login(client, "bob", "other")  # another user from the same address still gets in
    elsewhere = Client(REMOTE_ADDR="10.0.0.2")  # alice from her own address is not locked out by the guesser
    assert elsewhere.post("/login/", {"username": "alice", "password": "demo", "project": "demo"}).status_code == 302
    cache.clear()


def test_it_sends_an_expired_session_to_login_and_keeps_the_form_input(demo: Demo, alice_client: Client,
                                                                       config: Any) -> None:
    from volpanel.openstack import session as os_session

    vid = demo.volume("data-01")["id"]
    page = alice_client.get(f"/volumes/{vid}/")
    assert page.status_code == 200
    creds = os_session.Credentials.from_json(alice_client.session["volpanel.credentials"])
    os_session.revoke(config, creds)  # as if the token expired while the form was open

    response = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "17"})
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=%2Fvolumes%2F{vid}%2F"
    back = alice_client.post("/login/", {"username": "alice", "password": "demo", "project": "demo",
                                         "next": f"/volumes/{vid}/"})
    assert back.status_code == 302 and back["Location"] == f"/volumes/{vid}/"
    body = alice_client.get(back["Location"]).content.decode()
    assert 'value="17"' in body and '<details class="action" data-action="extend" open>' in body
    assert "Traceback" not in body
    assert demo.volume("data-01")["size"] == 10 and not AuditEntry.objects.exists()


def test_an_accepted_action_s_answer_shows_the_watcher_s_read_not_a_get_of_its_own(
        demo: Demo, alice_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from volpanel.openstack.cinder import CinderClient

    vid = demo.volume("data-01")["id"]
    # A first answer loads the rest of the page (selectors.answer_page's memo, 10 s), with the volume.
    first = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11", "idempotency_key": "d" * 32}, **HTMX)
    assert "accepted by the cloud" in first.content.decode() and watchers.wait_idle(20)
    real_get = CinderClient.get_volume
    by_thread: list[str] = []

    def get_volume(self: CinderClient, volume_id: str) -> Any:
        by_thread.append(threading.current_thread().name)
        return real_get(self, volume_id)

    monkeypatch.setattr(CinderClient, "get_volume", get_volume)
    answer = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "12", "idempotency_key": "e" * 32},
                               **HTMX).content.decode()
    assert "accepted by the cloud" in answer
    # The request made one volume GET, the check before the action; the volume the answer shows after it is the
    # watcher's first read (which the stream publishes too), not a second GET of the request's own.
    assert by_thread.count(threading.current_thread().name) == 1
    assert any(name.startswith("watch-") for name in by_thread)
    assert watchers.wait_idle(20)


def test_it_sends_a_form_posted_twice_to_the_cloud_once(demo: Demo, alice_client: Client, bob: Any) -> None:
    import re as regex

    vid = demo.volume("data-01")["id"]
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    key = regex.search(r'id="id_extend_idempotency_key"[^>]*value="([0-9a-f]{32})"|'
                       r'value="([0-9a-f]{32})"[^>]*id="id_extend_idempotency_key"', page)
    assert key, "the extend form carries its idempotency key"
    form = {"new_size": "11", "idempotency_key": key.group(1) or key.group(2)}
    before = action_posts(demo)
    first = alice_client.post(f"/volumes/{vid}/extend/", form, **HTMX).content.decode()
    again = alice_client.post(f"/volumes/{vid}/extend/", form, **HTMX).content.decode()
    assert "accepted by the cloud" in first
    assert "was already submitted from this form" in again and "it was not sent again" in again
    assert action_posts(demo) == before + 1 and AuditEntry.objects.count() == 1
    assert alice_client.post(f"/volumes/{vid}/extend/", {**form, "idempotency_key": "not-hex"},
                             **HTMX).content.decode().count("This form is damaged") == 1
    # The key posted for another volume, or to another action, is not this form posted again: refused, not sent.
    scratch = demo.volume("scratch")["id"]
    for url in (f"/volumes/{scratch}/extend/", f"/volumes/{vid}/retype/"):
        elsewhere = alice_client.post(url, {**form, "new_type": "gold", "migration_policy": "never"},
                                      **HTMX).content.decode()
        assert "already used for another action" in elsewhere and "was already submitted" not in elsewhere, url
    assert action_posts(demo) == before + 1 and AuditEntry.objects.count() == 1
    # Another person replaying alice's key learns nothing of her attempt and sends nothing.
    other = Client()
    web_login(other, "carol", "demo")
    stolen = other.post(f"/volumes/{vid}/extend/", form, **HTMX).content.decode()
    assert "already used by someone else" in stolen and "was already submitted" not in stolen
    assert action_posts(demo) == before + 1 and AuditEntry.objects.count() == 1
    assert watchers.wait_idle(20)


def test_a_token_expiring_just_after_the_cloud_accepted_an_action_still_gets_the_accepted_answer(
        demo: Demo, alice_client: Client) -> None:
    # Sending the tenant to log in with the form refilled (a fresh key) would invite sending the action twice.
    vid = demo.volume("data-01")["id"]
    demo.faults(http=[{"service": "volume", "method": "GET", "path": f"/volumes/{vid}", "status": 401,
                       "after": 1}])  # the page's look at the volume passes; every later one is refused
    answer = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11", "idempotency_key": "c" * 32}, **HTMX)
    body = answer.content.decode()
    assert answer.status_code == 200 and "HX-Redirect" not in answer
    assert "Extend accepted by the cloud" in body and "expired" not in body
    assert "volpanel.resume" not in alice_client.session and "volpanel.credentials" in alice_client.session
    assert action_posts(demo) == 1
    entry = AuditEntry.objects.get()
    assert entry.answered_at is not None and entry.http_status == 202
    assert watchers.wait_idle(20)  # its watcher was refused too: the row waits for the reconciler
    demo.clear_faults()


def cinder_calls(demo: Demo) -> dict[str, int]:
    """The Cinder requests the demo cloud served since its counters were last cleared."""
    return {key.replace("/volume/v3/{project_id}", ""): n for key, n in demo.requests_served().items()
            if key.split(" ", 1)[1].startswith("/volume/")}


def test_it_makes_one_cinder_call_per_warm_detail_view_and_checks_every_action_against_the_whole_page(
        demo: Demo, alice_client: Client) -> None:
    import requests

    def clear() -> None:
        requests.delete(f"{demo.base}/_demo/requests", timeout=5).raise_for_status()


    vid = demo.volume("data-01")["id"]
    memo.clear_all()
    clear()
    # A cold process: the volume types and the volume's messages are fetched too, alongside the rest.
    assert alice_client.get(f"/volumes/{vid}/").status_code == 200
    assert cinder_calls(demo) == {"GET /volumes/{volume_id}": 1, "GET /snapshots/detail": 1, "GET /limits": 1,
                                  "GET /types": 1, "GET /messages": 1}
    assert demo.requests_served()["GET /compute/v2.1/servers/detail"] == 1
    clear()
    # Warm: the volume GET alone; its snapshots, the quota and the servers come from the project's memos.
    for _ in range(3):
        assert "GiB of quota left" in alice_client.get(f"/volumes/{vid}/").content.decode()
    assert cinder_calls(demo) == {"GET /volumes/{volume_id}": 3}
    assert "GET /compute/v2.1/servers/detail" not in demo.requests_served()
    clear()
    # Asked for in full (the no-JavaScript link of a page showing reused answers): everything, at once.
    assert "GiB of quota left" in alice_client.get(f"/volumes/{vid}/?complete").content.decode()
    assert cinder_calls(demo) == {"GET /volumes/{volume_id}": 1, "GET /snapshots/detail": 1, "GET /limits": 1}
    clear()
    assert alice_client.get("/volumes/").status_code == 200
    assert cinder_calls(demo) == {"GET /volumes/detail": 1}

    form = {"new_size": "11", "idempotency_key": "a" * 32}
    answer = alice_client.post(f"/volumes/{vid}/extend/", form, **HTMX).content.decode()
    assert "accepted by the cloud" in answer and "GiB of quota left" in answer and 'data-testid="snapshots"' in answer
    assert watchers.wait_idle(20)
    clear()
    # The same form again: the check reads what the extend form reads (the volume, the quota), then the answer
    # fetches the volume once more and shows the rest of the page as this token's last answer loaded it.
    again = alice_client.post(f"/volumes/{vid}/extend/", form, **HTMX).content.decode()
    assert "already submitted" in again and 'data-testid="volume-size">11 GiB' in again
    assert "GiB of quota left" in again and 'data-testid="snapshots"' in again
    assert cinder_calls(demo) == {"GET /volumes/{volume_id}": 2, "GET /limits": 1}
    clear()
    # A retype's check reads the volume alone (the types come from their memo). Refused by Cinder here, so that no
    # watcher's GET joins the count: the check's GET and the action.
    demo.faults(http=[{"service": "volume", "method": "POST", "path": f"/volumes/{vid}/action", "status": 400}])
    retyped = alice_client.post(f"/volumes/{vid}/retype/", {"new_type": "gold", "migration_policy": "never",
                                                            "idempotency_key": "b" * 32}, **HTMX).content.decode()
    demo.clear_faults()
    assert 'data-outcome="rejected"' in retyped and 'data-testid="snapshots"' in retyped
    assert cinder_calls(demo) == {"GET /volumes/{volume_id}": 1, "POST /volumes/{volume_id}/action": 1}


def test_every_action_post_is_checked_against_the_volume_as_the_cloud_has_it_now(
        demo: Demo, alice_client: Client, alice: Any) -> None:
    from volpanel.cloud import connect

    demo.config(delay=0.0)
    vid = demo.volume("data-01")["id"]
    cloud = connect(alice)
    answer = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11", "idempotency_key": "d" * 32},
                               **HTMX).content.decode()
    assert "accepted by the cloud" in answer  # and this token's answers now keep the rest of the page a moment
    assert watchers.wait_idle(20)
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert 'data-testid="volume-size">11 GiB' in page and "data-01-snap-tue" in page
    # Behind the page's back (another tab, the CLI): the volume grows to 13 GiB and a snapshot goes away.
    cloud.cinder.extend(vid, 13, in_use=False)
    demo.wait_for("data-01", lambda v: v["status"] == "available" and v["size"] == 13)
    snapshot = demo.snapshot_id("data-01-snap-tue")
    cloud.cinder.delete_snapshot(snapshot)
    deadline = time.monotonic() + 10
    while snapshot in demo.state()["snapshots"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert snapshot not in demo.state()["snapshots"]
    posts, rows = action_posts(demo), AuditEntry.objects.count()
    # The page said 11 GiB and two snapshots: each post is checked against the cloud's state now, refused beside
    # its fields, and nothing is sent or recorded.
    for htmx in (HTMX, {}):
        extend = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "12", "idempotency_key": "e" * 32},
                                   **htmx)
        assert extend.status_code == (200 if htmx else 400)
        body = extend.content.decode()
        assert "The new size must be larger than the current 13 GiB." in body
        assert 'data-testid="volume-size">13 GiB' in body
        delete = alice_client.post(f"/volumes/{vid}/delete_snapshot/", {"snapshot_id": snapshot, "confirm": "on",
                                                                        "idempotency_key": "f" * 32}, **htmx)
        assert delete.status_code == (200 if htmx else 400)
        assert "it may have been deleted meanwhile" in delete.content.decode()
    assert (action_posts(demo), AuditEntry.objects.count()) == (posts, rows)


def test_it_reuses_side_answers_until_its_own_actions_change_them_and_never_acts_on_them(
        demo: Demo, alice_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    from tests.volumes.test_streams import read_stream
    from volpanel.cloud import connect
    from volpanel.openstack.session import Credentials
    from volpanel.volumes import selectors

    vid = demo.volume("scratch")["id"]
    cloud = connect(Credentials.from_json(alice_client.session["volpanel.credentials"]))
    monkeypatch.setattr(selectors, "FRESH_FOR", 3600.0)  # what the page reuses counts as fresh for now
    assert "No snapshots." in alice_client.get(f"/volumes/{vid}/").content.decode()
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "No snapshots." in page and "refresh=" not in page  # read under FRESH_FOR ago: no refresh
    monkeypatch.setattr(selectors, "FRESH_FOR", -1.0)  # every reused answer is now older than that
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    # The page opens its stream to read them again (and says so where no JavaScript runs).
    shown = re.search(rf'sse-connect="/volumes/{vid}/stream/\?refresh=([0-9a-f]+)"', page)
    assert shown and 'data-testid="reused-note"' in page and "No snapshots." in page
    # What the page shows is what the cloud has: the stream's refresh reads it again and sends nothing.
    assert read_stream(alice_client, f"/volumes/{vid}/stream/?refresh={shown[1]}")[2] == [("settled", "available")]
    # A snapshot taken outside volpanel (another tool, another dashboard) since: the refresh brings it.
    cloud.cinder.create_snapshot(vid, name="from-the-cli", description="", force=False)
    demo.quiet()
    snap = next(s for s in demo.state()["snapshots"].values() if s["name"] == "from-the-cli")
    status, _, events = read_stream(alice_client, f"/volumes/{vid}/stream/?refresh={shown[1]}")
    assert status == 200 and [name for name, _ in events] == ["status", "actions", "progress", "history", "settled"]
    status_html, actions_html = dict(events)["status"], dict(events)["actions"]
    assert "from-the-cli" in status_html and "No snapshots." not in status_html
    assert "Revert to snapshot" in actions_html and 'data-testid="reason-revert"' not in actions_html
    # The refresh kept what it read: the next page shows the snapshot from the memo, Cinder asked for the volume alone.
    requests.delete(f"{demo.base}/_demo/requests", timeout=5).raise_for_status()
    assert "from-the-cli" in alice_client.get(f"/volumes/{vid}/").content.decode()
    assert cinder_calls(demo) == {"GET /volumes/{volume_id}": 1}

    # Deleted outside volpanel: the memo still lists it, but an action is checked against the cloud as it is now.
    cloud.cinder.delete_snapshot(snap["id"])
    demo.quiet()
    assert "from-the-cli" in alice_client.get(f"/volumes/{vid}/").content.decode()
    before = action_posts(demo)
    refused = alice_client.post(f"/volumes/{vid}/delete_snapshot/", {"snapshot_id": snap["id"], "confirm": "on"},
                                **HTMX).content.decode()
    assert "from-the-cli" not in refused and 'class="field-error"' in refused
    assert action_posts(demo) == before and not AuditEntry.objects.exists()

    # volpanel's own action: the memos it changed are dropped when the cloud accepts it and when it settles, so the
    # next page shows the new snapshot even where no stream refreshes it.
    monkeypatch.setattr(selectors, "FRESH_FOR", 3600.0)
    alice_client.get(f"/volumes/{vid}/")
    answer = alice_client.post(f"/volumes/{vid}/snapshot/", {"name": "nightly", "description": ""}, **HTMX)
    assert "Take snapshot accepted by the cloud" in answer.content.decode()
    assert watchers.wait_idle(10)
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "nightly</bdi> <span class=\"tag\">latest</span>" in page and "refresh=" not in page


@pytest.mark.parametrize("without", [["compute"], ["image"], ["compute", "image"]], ids="-".join)
def test_it_degrades_quietly_on_a_cloud_without_compute_or_image(demo: Demo, client: Client,
                                                                 without: list[str]) -> None:
    demo.config(without=without)
    web_login(client, "alice", "demo")  # the catalog comes with the token: log in after the switch
    demo_requests = {"compute": "/compute/", "image": "/image/"}

    def calls_to_missing() -> list[str]:
        return [key for key, n in demo.requests_served().items()
                if any(demo_requests[s] in key for s in without)]

    listing = client.get("/volumes/")
    assert listing.status_code == 200 and b"data-01" in listing.content
    pages = {name: client.get(f"/volumes/{demo.volume(name)['id']}/").content.decode()
             for name in ("data-01", "web-root", "scratch")}
    for name, body in pages.items():
        assert "Traceback" not in body and "cloud_error" not in body, name
        assert body.count('data-testid="services-note"') == 1, name
    note = re.search(r'data-testid="services-note">([^<]*)<', pages["scratch"]).group(1)
    if "compute" in without:
        assert "no Compute (Nova)" in note and "attaching to servers" in note
        assert 'data-action="attach_server"' not in pages["scratch"]
        assert 'data-action="attach_host"' in pages["scratch"]
    else:
        assert 'data-action="attach_server"' in pages["scratch"]
    if "image" in without:
        assert "Image (Glance)" in note and "uploading to an image is not possible" in note
        assert "This cloud has no Image service to upload to." in pages["scratch"]
    assert "Attaching to a host and every other volume action work as usual." in note

    # Host attach and the Cinder actions run and settle; nothing ever asks the missing service.
    scratch = demo.volume("scratch")["id"]
    attached = client.post(f"/volumes/{scratch}/attach_host/",
                           {"host_name": "bm-1", "mountpoint": "/dev/sdb", "mode": "rw"}, **HTMX)
    assert "Attach to host accepted by the cloud" in attached.content.decode()
    assert watchers.wait_idle(20)
    web_root = demo.volume("web-root")["id"]
    extended = client.post(f"/volumes/{web_root}/extend/", {"new_size": "21"}, **HTMX).content.decode()
    assert "Extend accepted by the cloud" in extended
    assert watchers.wait_idle(20)
    refused = client.post(f"/volumes/{scratch}/attach_server/", {"server_id": demo.server_id("db-1")}, **HTMX)
    if "compute" in without:
        assert "no Compute service" in refused.content.decode()
    data01 = demo.volume("data-01")["id"]
    upload = {"image_name": "img", "disk_format": "raw", "container_format": "bare", "visibility": "private"}
    uploaded = client.post(f"/volumes/{data01}/upload/", upload, **HTMX).content.decode()
    if "image" in without:
        assert "This cloud has no Image service to upload to." in uploaded
    assert watchers.wait_idle(20)
    final = client.get(f"/volumes/{web_root}/").content.decode()
    assert "21 GiB" in final and 'data-testid="nova-extend"' not in final or "compute" not in without
    outcomes = {(e.action, e.outcome) for e in AuditEntry.objects.all()}
    assert ("os-attach", Outcome.SUCCEEDED) in outcomes and ("os-extend", Outcome.SUCCEEDED) in outcomes
    assert calls_to_missing() == []


def test_it_shows_times_both_ways_the_quota_in_the_form_and_what_to_do_when_empty(demo: Demo,
                                                                                  alice_client: Client) -> None:
    data01 = alice_client.get(f"/volumes/{demo.volume('data-01')['id']}/").content.decode()
    # The seed's snapshots are two and three days old: an exact UTC time and the relative one.
    assert re.search(r'<time datetime="[0-9-]+T[0-9:]+\+00:00">[0-9-]+ [0-9:]+ UTC</time> '
                     r'<small class="ago">\(3\xa0days ago\)</small>', data01)
    assert "Whole GiB, more than the current 10 GiB. Your project has 44 GiB of quota left, so at most 54 GiB." \
        in data01
    assert "Not attached. Attach it to a server or a host with the actions below." in data01
    scratch = alice_client.get(f"/volumes/{demo.volume('scratch')['id']}/").content.decode()
    assert "No snapshots. Take one with the actions below to be able to revert to it." in scratch
    assert "No actions yet. What you do here is recorded in this history." in scratch
    alice_client.post(f"/volumes/{demo.volume('scratch')['id']}/extend/", {"new_size": "2"})
    assert watchers.wait_idle(20)
    history = alice_client.get(f"/volumes/{demo.volume('scratch')['id']}/?partial=history", **HTMX).content.decode()
    assert '<small class="ago">(just now)</small>' in history or "minute" in history


@pytest.mark.parametrize(("behaviour", "says"), [
    ("not JSON", "is not JSON (text/html)"),
    ("huge, chunked", "too large to accept"),
    ("slow drip", "did not answer in time"),
])
def test_it_shows_a_clear_error_page_when_cinder_answers_garbage(demo: Demo, alice_client: Client, settings: Any,
                                                                 behaviour: str, says: str) -> None:
    from tests import hostile_http as hostile
    from tests.test_openstack import HOSTILE_CASES
    from volpanel.openstack.session import Credentials

    settings.OPENSTACK = {**settings.OPENSTACK, "timeout": 1.0, "total_timeout": 2.0, "max_body_bytes": 2**20}
    vid = demo.volume("data-01")["id"]
    with hostile.hostile_cinder() as server:
        session = alice_client.session
        creds = Credentials.from_json(session["volpanel.credentials"])
        session["volpanel.credentials"] = hostile.pointed_at(creds, server).to_json()
        session.save()
        server.behaviour = HOSTILE_CASES[behaviour][0]
        for path in ("/volumes/", f"/volumes/{vid}/"):
            page = alice_client.get(path)
            body = page.content.decode()
            assert page.status_code == 502 and "The cloud did not answer as expected" in body, (path, body[:500])
            assert says in body and "Service: volume" in body and "Traceback" not in body
        assert alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11"}).status_code == 502
    assert not AuditEntry.objects.exists()


def test_the_action_panel_is_rendered_once_per_volume_state_and_personalised_per_response(
        demo: Demo, alice_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from volpanel.volumes import presenters

    renders: list[str] = []
    real = presenters.render_to_string

    def counting(template: str, *args: Any, **kwargs: Any) -> str:
        renders.append(template)
        return real(template, *args, **kwargs)

    monkeypatch.setattr(presenters, "render_to_string", counting)
    monkeypatch.setattr(presenters, "_panels", Memo("test.action_panels", presenters.PANEL_TTL))
    demo.config(delay=0.0)
    vid = demo.volume("data-01")["id"]
    pages = [alice_client.get(f"/volumes/{vid}/").content.decode() for _ in range(2)]
    pages.append(alice_client.get(f"/volumes/{vid}/?partial=actions", **HTMX).content.decode())
    assert renders == ["volpanel/volume.html#actions"]
    keys = [re.findall(r'name="idempotency_key" value="([0-9a-f]{32})"', page) for page in pages]
    # Every form of every response has a key of its own; none is the placeholder the panel was rendered with.
    assert all(len(k) >= 5 for k in keys) and len({key for k in keys for key in k}) == sum(map(len, keys))
    [panel] = presenters._panels.values()
    assert panel.keys and not any(key in panel.keys for k in keys for key in k)
    for page in pages:
        assert presenters.CSRF_PLACEHOLDER not in page and 'name="csrfmiddlewaretoken" value="' in page
        assert "<h2>Actions</h2>" in page and ">Extend<" in page
    # A key from the second page works, with that page's CSRF token, through the CSRF check.
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.cookies = alice_client.cookies
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', pages[1]).group(1)
    answer = csrf_client.post(f"/volumes/{vid}/extend/", {"new_size": "11", "idempotency_key": keys[1][0],
                                                          "csrfmiddlewaretoken": csrf}, **HTMX)
    assert answer.status_code == 200 and "accepted by the cloud" in answer.content.decode()
    assert watchers.wait_idle(10)
    # The volume changed (11 GiB): a new panel, whose extend form starts from the new size.
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert renders.count("volpanel/volume.html#actions") >= 2
    assert re.search(r'name="new_size" value="12"', page) or re.search(r'value="12"[^>]*name="new_size"', page)


def test_an_answer_rendered_after_the_watcher_settled_the_row_says_it_is_done(
        demo: Demo, alice_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from volpanel.volumes import selectors

    demo.config(delay=0.0)
    answer_page = selectors.answer_page

    def after_the_watcher(*args: Any, **kwargs: Any) -> Any:
        assert watchers.wait_idle(10)  # the watcher settles the row before the answer is rendered
        return answer_page(*args, **kwargs)

    monkeypatch.setattr(selectors, "answer_page", after_the_watcher)
    vid = demo.volume("data-01")["id"]
    body = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11"}, **HTMX).content.decode()
    # One story: the announcement, its outcome attribute and the History agree; nothing waits for a stream.
    assert "Extend accepted by the cloud and already done: The volume is now 11 GiB." in body
    assert 'data-testid="announcement" data-outcome="succeeded"' in body and "sse-connect" not in body


def test_it_renames_a_volume_and_records_it(demo: Demo, alice_client: Client) -> None:
    demo.config(delay=0.0)
    vid = demo.volume("data-01")["id"]
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    # The form starts from the volume's own name and description.
    assert re.search(r'name="name"[^>]*value="data-01"', page) or re.search(r'value="data-01"[^>]*name="name"', page)
    answer = alice_client.post(f"/volumes/{vid}/edit/", {"name": " db-data ", "description": "postgres <b>14</b>"},
                               **HTMX).content.decode()
    assert "Edit name and description accepted by the cloud" in answer
    assert watchers.wait_idle(10)
    stored = demo.state()["volumes"][vid]
    assert (stored["name"], stored["description"]) == ("db-data", "postgres <b>14</b>")
    row = AuditEntry.objects.get()
    assert (row.action, row.outcome, row.http_status, row.detail) == (
        "volume-update", Outcome.SUCCEEDED, 200, "The volume is now named db-data.")
    assert row.parameters == {"name": "db-data", "description": "postgres <b>14</b>", "old_name": "data-01",
                              "old_description": ""}
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "<h1><bdi>db-data</bdi></h1>" in page and "postgres &lt;b&gt;14&lt;/b&gt;" in page
    assert "Edit name and description" in alice_client.get(f"/volumes/{vid}/?partial=history", **HTMX).content.decode()


def test_it_sets_and_clears_the_bootable_flag(demo: Demo, alice_client: Client) -> None:
    demo.config(delay=0.0)
    vid = demo.volume("data-01")["id"]
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "Set bootable" in page and "servers may boot from" in page
    answer = alice_client.post(f"/volumes/{vid}/bootable/", {"bootable": "on"}, **HTMX).content.decode()
    assert "Set bootable accepted by the cloud" in answer
    assert watchers.wait_idle(10)
    assert demo.state()["volumes"][vid]["bootable"] is True
    answer = alice_client.post(f"/volumes/{vid}/bootable/", {}, **HTMX).content.decode()
    assert watchers.wait_idle(10)
    assert demo.state()["volumes"][vid]["bootable"] is False
    rows = list(AuditEntry.objects.order_by("id").values_list("action", "outcome", "detail"))
    assert rows == [("os-set_bootable", Outcome.SUCCEEDED, "The volume is now bootable."),
                    ("os-set_bootable", Outcome.SUCCEEDED, "The volume is no longer bootable.")]


def test_it_bounds_how_fast_one_session_makes_volpanel_call_the_cloud(demo: Demo, alice_client: Client,
                                                                      settings: Any) -> None:
    """Each page load costs the cloud 3–4 calls; a session past its budget is answered 429 with Retry-After before
    the cloud hears of it. Another session is not slowed. (The budget is a row of volpanel_bucket: the test's
    database starts without one.)"""
    settings.VOLPANEL_CLOUD_RATE, settings.VOLPANEL_CLOUD_BURST = 0.5, 5
    vid = demo.volume("data-01")["id"]

    def cloud_calls() -> int:
        return sum(n for key, n in demo.requests_served().items() if "/identity/" not in key)

    answers = [alice_client.get(f"/volumes/{vid}/").status_code for _ in range(5)]
    before = cloud_calls()
    refused = [alice_client.get(path) for path in ("/volumes/", f"/volumes/{vid}/")]
    refused.append(alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11"}))
    refused.append(alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11"}, HTTP_HX_REQUEST="true"))
    assert answers == [200] * 5 and [r.status_code for r in refused] == [429] * 4
    assert {r["Retry-After"] for r in refused} == {"2"} and cloud_calls() == before
    # The action button's answer says so where the page announces outcomes (base.html's htmx-config swaps 429).
    button = refused[-1]
    assert (button["HX-Retarget"], button["HX-Reswap"]) == ("#volume-announce", "innerHTML")
    assert "Nothing was sent; try again in 2 s." in button.content.decode()
    assert not AuditEntry.objects.exists()
    other = Client()
    web_login(other, "alice", "demo")
    assert other.get("/volumes/").status_code == 200
    time.sleep(2.1)
    assert alice_client.get("/volumes/").status_code == 200  # the budget refills


def test_it_takes_a_snapshot_follows_it_until_available_and_reverts_to_it(demo: Demo, alice_client: Client) -> None:
    vid = demo.volume("scratch")["id"]
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "Take snapshot" in page and 'data-testid="reason-revert"' in page and "this volume has none" in page
    assert "(force)" not in page  # only an attached volume is asked for it
    answer = alice_client.post(f"/volumes/{vid}/snapshot/", {"name": " nightly ", "description": "before the upgrade"},
                               **HTMX).content.decode()
    assert "Take snapshot accepted by the cloud" in answer and "sse-connect" in answer
    row = AuditEntry.objects.get()
    (snap,) = [s for s in demo.state()["snapshots"].values() if s["volume_id"] == vid]
    assert (row.action, row.http_status, row.snapshot_id, snap["name"]) == ("snapshot-create", 202, snap["id"],
                                                                            "nightly")
    assert watchers.wait_idle(10)
    row.refresh_from_db()
    # Judged by the snapshot: the volume stayed available all along.
    assert (row.outcome, row.detail, row.status_after) == (Outcome.SUCCEEDED, "Snapshot nightly is available.",
                                                           "available")
    assert row.parameters == {"name": "nightly", "description": "before the upgrade", "force": False}
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "nightly</bdi> <span class=\"tag\">latest</span>" in page and 'data-testid="reason-revert"' not in page
    # Revert now works from the page alone.
    answer = alice_client.post(f"/volumes/{vid}/revert/", {"snapshot_id": snap["id"], "confirm": "on"},
                               **HTMX).content.decode()
    assert "Revert to snapshot accepted by the cloud" in answer
    assert watchers.wait_idle(10)
    assert list(AuditEntry.objects.order_by("id").values_list("action", "outcome")) == [
        ("snapshot-create", Outcome.SUCCEEDED), ("revert", Outcome.SUCCEEDED)]


def test_it_snapshots_an_attached_volume_only_when_told_what_force_means(demo: Demo, alice_client: Client) -> None:
    vid = demo.volume("web-root")["id"]
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "Take it while the volume is attached (force)" in page and "as if the server lost power" in page
    before = action_posts(demo)
    refused = alice_client.post(f"/volumes/{vid}/snapshot/", {"name": "hot", "description": ""}, **HTMX)
    assert "tick the box to take the snapshot anyway" in refused.content.decode()
    assert action_posts(demo) == before and not AuditEntry.objects.exists()
    answer = alice_client.post(f"/volumes/{vid}/snapshot/", {"name": "hot", "description": "", "force": "on"},
                               **HTMX).content.decode()
    assert "Take snapshot accepted by the cloud" in answer
    assert watchers.wait_idle(10)
    row = AuditEntry.objects.get()
    assert (row.outcome, row.parameters["force"], row.status_after) == (Outcome.SUCCEEDED, True, "in-use")


def test_it_judges_a_snapshot_left_in_error_as_failed(demo: Demo, alice_client: Client) -> None:
    vid = demo.volume("scratch")["id"]
    demo.faults(backend={"snapshot": "fail"})
    alice_client.post(f"/volumes/{vid}/snapshot/", {"name": "doomed", "description": ""}, **HTMX)
    assert watchers.wait_idle(10)
    row = AuditEntry.objects.get()
    assert (row.outcome, row.detail) == (Outcome.FAILED, "Cinder left the snapshot error.")


def test_it_deletes_a_snapshot_saying_when_it_is_the_one_revert_would_use(demo: Demo, alice_client: Client) -> None:
    vid = demo.volume("data-01")["id"]
    mon, tue = demo.snapshot_id("data-01-snap-mon"), demo.snapshot_id("data-01-snap-tue")
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "Delete snapshot" in page
    assert re.search(r"data-01-snap-tue \(available, taken [0-9-]+ [0-9:]+ UTC\) — the latest: the snapshot Revert "
                     r"to snapshot would use", page)
    assert not re.search(r"data-01-snap-mon \([^)]*\) — the latest", page)
    answer = alice_client.post(f"/volumes/{vid}/delete_snapshot/", {"snapshot_id": tue, "confirm": "on"},
                               **HTMX).content.decode()
    assert "Delete snapshot accepted by the cloud" in answer
    assert watchers.wait_idle(10)
    row = AuditEntry.objects.get()
    assert (row.action, row.http_status, row.snapshot_id, row.outcome, row.detail, row.parameters) == (
        "snapshot-delete", 202, tue, Outcome.SUCCEEDED, "The snapshot was deleted.",
        {"snapshot_id": tue, "was_latest": True})
    assert tue not in demo.state()["snapshots"]
    # Revert now goes to the one before it, which the page says.
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "to its latest snapshot <strong><bdi>data-01-snap-mon</bdi></strong>" in page
    assert re.search(r"data-01-snap-mon \([^)]*\) — the latest", page)
    assert mon in demo.state()["snapshots"]


@pytest.mark.parametrize(("fault", "status", "detail"), [
    ("busy", "available", "Cinder kept the snapshot: its backend refused to delete it, as it does while volumes "
                          "made from the snapshot depend on it."),
    ("fail", "error_deleting", "Cinder left the snapshot error_deleting; ask your cloud administrator to look at the "
                               "volume backend."),
])
def test_it_judges_a_snapshot_the_backend_kept_as_failed(demo: Demo, alice_client: Client, fault: str, status: str,
                                                         detail: str) -> None:
    demo.faults(backend={"delete_snapshot": fault})
    vid, mon = demo.volume("data-01")["id"], demo.snapshot_id("data-01-snap-mon")
    alice_client.post(f"/volumes/{vid}/delete_snapshot/", {"snapshot_id": mon, "confirm": "on"}, **HTMX)
    assert watchers.wait_idle(10)
    row = AuditEntry.objects.get()
    assert (row.outcome, row.detail, row.parameters["was_latest"]) == (Outcome.FAILED, detail, False)
    assert demo.state()["snapshots"][mon]["status"] == status
    # A snapshot in error_deleting is not offered for deletion again (Cinder would refuse it).
    if status == "error_deleting":
        refused = alice_client.post(f"/volumes/{vid}/delete_snapshot/", {"snapshot_id": mon, "confirm": "on"}, **HTMX)
        assert "That snapshot is error_deleting: Cinder deletes a snapshot only when" in refused.content.decode()


def test_it_sets_and_clears_the_read_only_flag_and_attaches_a_read_only_volume_read_only(
        demo: Demo, alice_client: Client) -> None:
    demo.config(delay=0.0)
    vid = demo.volume("data-01")["id"]
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert 'data-testid="volume-readonly">no<' in page and "Set read-only" in page
    answer = alice_client.post(f"/volumes/{vid}/readonly/", {"readonly": "on"}, **HTMX).content.decode()
    assert "Set read-only accepted by the cloud" in answer
    assert watchers.wait_idle(10)
    assert demo.state()["volumes"][vid]["admin_metadata"]["readonly"] == "True"
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert 'data-testid="volume-readonly">yes<' in page
    assert re.search(r'<option value="ro" selected>Read-only</option>', page)  # the host attach starts read-only
    before = action_posts(demo)
    refused = alice_client.post(f"/volumes/{vid}/attach_host/", {"host_name": "bm", "mountpoint": "/dev/vdc",
                                                                 "mode": "rw"}, **HTMX).content.decode()
    assert "The volume is read-only: attach it in read-only access mode." in refused and action_posts(demo) == before
    alice_client.post(f"/volumes/{vid}/attach_host/", {"host_name": "bm", "mountpoint": "/dev/vdc", "mode": "ro"},
                      **HTMX)
    assert watchers.wait_idle(10)
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert 'data-testid="volume-readonly">yes <small>(attached read-only)</small>' in page
    assert "only while the volume is available; it is in-use (detach it first)." in page
    rows = list(AuditEntry.objects.order_by("id").values_list("action", "outcome", "detail"))
    assert rows == [("os-update_readonly_flag", Outcome.SUCCEEDED, "The volume is now read-only."),
                    ("os-attach", Outcome.SUCCEEDED, "Attached at /dev/vdc.")]
    first = AuditEntry.objects.order_by("id").first()
    assert first is not None and first.parameters == {"readonly": True, "was_readonly": False}


def test_it_sets_shows_and_removes_an_image_property(demo: Demo, alice_client: Client) -> None:
    demo.config(delay=0.0)
    vid = demo.volume("data-01")["id"]
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert 'data-testid="volume-image-metadata">none<' in page and "The volume has no image properties" in page
    answer = alice_client.post(f"/volumes/{vid}/image_metadata/", {"key": "os_distro", "value": "debian <12>"},
                               **HTMX).content.decode()
    assert "Set image property accepted by the cloud" in answer
    assert watchers.wait_idle(10)
    assert demo.state()["volumes"][vid]["image_metadata"] == {"os_distro": "debian <12>"}
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "<code><bdi>os_distro</bdi></code> = <bdi>debian &lt;12&gt;</bdi>" in page
    before = action_posts(demo)
    refused = alice_client.post(f"/volumes/{vid}/image_metadata/", {"key": "os_distro", "value": "debian <12>"},
                                **HTMX).content.decode()
    assert "Image property os_distro already has that value." in refused and action_posts(demo) == before
    refused = alice_client.post(f"/volumes/{vid}/unset_image_metadata/", {"key": "hw_disk_bus"},
                                **HTMX).content.decode()
    assert "Choose one of this volume&#x27;s image properties" in refused and action_posts(demo) == before
    alice_client.post(f"/volumes/{vid}/unset_image_metadata/", {"key": "os_distro"}, **HTMX)
    assert watchers.wait_idle(10)
    assert demo.state()["volumes"][vid]["image_metadata"] == {}
    rows = list(AuditEntry.objects.order_by("id").values_list("action", "outcome", "detail", "parameters"))
    assert rows == [("os-set_image_metadata", Outcome.SUCCEEDED, "Image property os_distro is set.",
                     {"key": "os_distro", "value": "debian <12>", "old_value": None}),
                    ("os-unset_image_metadata", Outcome.SUCCEEDED, "Image property os_distro is removed.",
                     {"key": "os_distro", "old_value": "debian <12>"})]


def test_it_shows_the_host_name_volpanel_recorded_for_a_host_attachment(demo: Demo, alice_client: Client,
                                                                          alice: Any) -> None:
    from volpanel.cloud import connect

    demo.config(delay=0.0)
    # Attached outside volpanel: Cinder names no host and volpanel has no record of it.
    scratch = demo.volume("scratch")["id"]
    connect(alice).cinder.attach(scratch, "/dev/vdc", host_name="elsewhere", mode="rw")
    demo.wait_for("scratch", lambda v: v["status"] == "in-use")
    page = alice_client.get(f"/volumes/{scratch}/").content.decode()
    assert "Host <bdi>(name not reported by Cinder)</bdi>" in page and "from volpanel's record" not in page
    vid = demo.volume("data-01")["id"]
    answer = alice_client.post(f"/volumes/{vid}/attach_host/", {"host_name": "bm-<7>", "mountpoint": "/dev/vdc",
                                                                "mode": "rw"}, **HTMX).content.decode()
    assert "Attach to host accepted by the cloud" in answer
    assert watchers.wait_idle(10)
    assert [a["host_name"] for a in demo.state()["volumes"][vid]["attachments"]] == [None]  # as real Cinder
    for html in (alice_client.get(f"/volumes/{vid}/").content.decode(),
                 alice_client.get(f"/volumes/{vid}/?partial=status", **HTMX).content.decode()):
        assert 'Host <bdi data-testid="recorded-host">bm-&lt;7&gt;</bdi> <small class="tag"' in html
        assert "from volpanel's record" in html and "not reported by Cinder" not in html
    # The same host attachment on another volume is not named from this volume's record.
    assert "from volpanel's record" not in alice_client.get(f"/volumes/{scratch}/").content.decode()


def test_it_reimages_a_volume_from_an_image_glance_lists(demo: Demo, alice_client: Client) -> None:
    demo.config(delay=0.0)
    vid = demo.volume("data-01")["id"]
    cirros = next(iter(demo.state()["images"]))
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert f'<option value="{cirros}">cirros-0.6.3-x86_64-disk (qcow2, 1 GiB)</option>' in page
    answer = alice_client.post(f"/volumes/{vid}/reimage/", {"image_id": cirros, "confirm": "on"},
                               **HTMX).content.decode()
    assert "Reimage accepted by the cloud" in answer
    assert watchers.wait_idle(10)
    volume = demo.state()["volumes"][vid]
    assert (volume["status"], volume["bootable"], volume["image_metadata"]["image_id"]) == ("available", True, cirros)
    row = AuditEntry.objects.get()
    assert (row.action, row.outcome, row.detail, row.microversion, row.parameters) == (
        "os-reimage", Outcome.SUCCEEDED, "The volume now holds image cirros-0.6.3-x86_64-disk.", "3.68",
        {"image_id": cirros, "image_name": "cirros-0.6.3-x86_64-disk", "old_image_id": None})
    # The backend fails to write it: Cinder leaves the volume in error and the row says so.
    demo.faults(backend={"reimage": "fail"})
    alice_client.post(f"/volumes/{vid}/reimage/", {"image_id": cirros, "confirm": "on"}, **HTMX)
    assert watchers.wait_idle(10)
    row = AuditEntry.objects.order_by("-id").first()
    assert row is not None and (row.outcome, row.detail) == (
        Outcome.FAILED, "Cinder could not write image cirros-0.6.3-x86_64-disk to the volume (error).")
    # Not while attached: the button says why before the click.
    page = alice_client.get(f"/volumes/{demo.volume('web-root')['id']}/").content.decode()
    assert "Reimage needs the volume to be available or in error; it is in-use (detach it first)." in page
