"""The admin volume page and its repair actions (volpanel/volumes/admin_views.py, issue 16): from a failed
attempt in the audit trail to its repair on a volume of another project, and a member kept out of all of it."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from django.test import Client

from tests.conftest import Demo, web_login
from tests.volumes.test_views import action_posts
from volpanel.audit.models import AuditEntry, Outcome
from volpanel.volumes import selectors, watchers

pytestmark = pytest.mark.django_db(transaction=True)


def failed_extend(demo: Demo, alice_client: Client) -> tuple[str, AuditEntry]:
    demo.faults(backend={"extend": "fail"})
    vid = demo.volume("data-01")["id"]
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11"})
    assert watchers.wait_idle(20)
    demo.clear_faults()
    failed = AuditEntry.objects.get(action="os-extend")
    assert (failed.outcome, failed.status_after) == (Outcome.FAILED, "error_extending")
    return vid, failed


def test_it_takes_an_admin_from_a_failed_extend_to_its_repair_and_links_both_rows(
        demo: Demo, alice_client: Client) -> None:
    vid, failed = failed_extend(demo, alice_client)
    admin = Client()
    web_login(admin, "admin", "admin")  # the admin project: the volume is another project's
    repair = f"/manage/volumes/{vid}/?repair={failed.uuid}"
    assert repair in admin.get("/audit/").content.decode()
    assert repair in admin.get(f"/audit/{failed.uuid}/").content.decode()
    page = admin.get(repair).content.decode()
    assert 'data-testid="failed-row"' in page and "error_extending" in page
    assert "reset the status to\n    <strong>available</strong>" in page  # the status before the extend
    assert '<option value="available" selected>' in page
    assert 'data-testid="volume-host"><code>' in page and "extend volume" in page.lower()  # Cinder's message
    assert demo.volume("data-01")["project_id"] in page

    posts = action_posts(demo)
    base = {"status": "available", "attach_status": "", "migration_status": "", "repairs": str(failed.uuid)}
    # Every bad input is said next to its field and changes nothing.
    for data, message in [
        ({**base, "reason": ""}, "Say why: the reason goes into the audit trail with your name."),
        ({**base, "reason": "x", "status": "deleting"}, "Choose the status from the list."),
        ({**base, "reason": "x", "status": ""}, "Choose a status, an attach status or a migration status to set."),
        ({**base, "reason": "x", "status": "in-use"}, "Cinder resets a volume to in-use only if it has an "
                                                      "attachment; this one has none."),
        ({**base, "reason": "x", "repairs": str(uuid4())}, "not a failed attempt on this volume"),
        ({**base, "reason": "a\x1bb"}, "The reason can use printable characters only"),
    ]:
        response = admin.post(f"/manage/volumes/{vid}/reset_status/", data)
        assert response.status_code == 400 and message in response.content.decode(), data
    assert action_posts(demo) == posts and AuditEntry.objects.count() == 1

    reason = "Backend checked: the LV grew, the driver timed out.\nBack to available."
    response = admin.post(f"/manage/volumes/{vid}/reset_status/",
                          {**base, "reason": reason, "idempotency_key": uuid4().hex})
    assert response.status_code == 302 and response["Location"] == repair
    assert watchers.wait_idle(20)
    fixed = AuditEntry.objects.get(action="os-reset_status")
    assert (fixed.outcome, fixed.http_status, fixed.reason, fixed.repairs_id, fixed.is_admin) == (
        Outcome.SUCCEEDED, 202, reason, failed.uuid, True)
    assert (fixed.actor_name, fixed.project_name, fixed.volume_project_id) == (
        "admin", "admin", demo.volume("data-01")["project_id"])
    assert fixed.parameters == {"status": "available", "attach_status": "", "migration_status": "",
                                "was_status": "error_extending", "was_migration_status": ""}
    assert demo.volume("data-01")["status"] == "available"
    # Both ways: the failed row names its repair, the repair the row it repairs, in the list and the details.
    page = admin.get(repair).content.decode()
    assert "Reset status succeeded" in page or "Reset status accepted" in page
    listing = admin.get("/audit/").content.decode()
    assert listing.count(f'href="/audit/{fixed.uuid}/"') >= 2 and f'href="/audit/{failed.uuid}/"' in listing
    assert "repaired by" in listing and "repairs" in listing and "Back to available." in listing
    detail = admin.get(f"/audit/{failed.uuid}/").content.decode()
    assert f'href="/audit/{fixed.uuid}/"' in detail and "repaired by" in detail
    detail = admin.get(f"/audit/{fixed.uuid}/").content.decode()
    assert f'href="/audit/{failed.uuid}/"' in detail and "Backend checked" in detail
    # The volume's project by its name (Keystone's project list), its id beside it.
    assert f'data-testid="volume-project"><bdi>demo</bdi> (<code>{fixed.volume_project_id}</code>)' in detail
    # And both ways in the exports, by audit row uuid.
    lines = {r["uuid"]: r for r in map(json.loads, b"".join(admin.get("/audit/export/jsonl/")).splitlines())}
    assert lines[str(failed.uuid)]["repaired_by"] == [str(fixed.uuid)] and lines[str(failed.uuid)]["repairs"] is None
    assert (lines[str(fixed.uuid)]["repairs"], lines[str(fixed.uuid)]["reason"]) == (str(failed.uuid), reason)
    assert lines[str(fixed.uuid)]["volume_project_id"] == fixed.volume_project_id != fixed.project_id
    events = {e["id"]: e for e in map(json.loads, b"".join(admin.get("/audit/export/cadf/")).splitlines())}
    attached = {a["name"]: a["content"] for a in events[str(fixed.uuid)]["attachments"]}
    assert (attached["reason"], attached["repairs"]) == (reason, str(failed.uuid))
    assert events[str(fixed.uuid)]["target"]["project_id"] == fixed.volume_project_id
    assert events[str(fixed.uuid)]["initiator"]["project_id"] == fixed.project_id
    attached = {a["name"]: a["content"] for a in events[str(failed.uuid)]["attachments"]}
    assert attached["repaired_by"] == [str(fixed.uuid)]


def test_a_member_gets_403_at_every_admin_endpoint_and_the_cloud_hears_nothing(
        demo: Demo, alice_client: Client) -> None:
    vid, failed = failed_extend(demo, alice_client)
    posts = action_posts(demo)
    repair = f"/manage/volumes/{vid}/?repair={failed.uuid}"
    assert alice_client.get(repair).status_code == 403
    response = alice_client.post(f"/manage/volumes/{vid}/reset_status/", {
        "status": "available", "reason": "trust me", "repairs": str(failed.uuid), "idempotency_key": uuid4().hex})
    assert response.status_code == 403 and b"Repairing volumes is for cloud administrators" in response.content
    assert action_posts(demo) == posts and AuditEntry.objects.count() == 1
    assert demo.volume("data-01")["status"] == "error_extending"
    # The tenant's own action URL does not take an admin action either.
    assert alice_client.post(f"/volumes/{vid}/reset_status/", {"status": "available"}).status_code == 404
    # Nobody signed in is sent to log in; an admin of the volume's own project gets the page.
    assert Client().get(repair)["Location"].startswith("/login/?next=")
    admin = Client()
    web_login(admin, "admin", "demo")
    assert admin.get(repair).status_code == 200
    assert admin.post(f"/manage/volumes/{vid}/no_such_action/", {}).status_code == 404


def volume_lists(demo: Demo) -> int:
    return sum(n for key, n in demo.requests_served().items() if key.startswith("GET") and "/volumes/detail" in key)


def test_it_lists_every_project_s_volumes_for_an_admin_filtered_and_paged(
        demo: Demo, alice_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = Client()
    web_login(admin, "admin", "admin")
    page = admin.get("/manage/volumes/").content.decode()
    assert 'href="/manage/volumes/"' in page  # the nav's "All projects"
    for name in ("data-01", "web-root", "archive-gold", "scratch", "bob-secret"):
        assert f"<bdi>{name}</bdi>" in page
    bob = demo.volume("bob-secret")
    page = admin.get("/manage/volumes/", {"project": bob["project_id"]}).content.decode()
    assert "bob-secret" in page and "data-01" not in page
    assert f'href="/manage/volumes/{bob["id"]}/"' in page and "democloud@" in page  # the admin's page; the host
    page = admin.get("/manage/volumes/", {"name": "scratch"}).content.decode()
    assert "scratch" in page and "data-01" not in page
    page = admin.get("/manage/volumes/", {"name": bob["id"]}).content.decode()  # an id opens that volume
    assert "bob-secret" in page and "data-01" not in page
    page = admin.get("/manage/volumes/", {"status": "error"}).content.decode()
    assert 'data-testid="no-volumes"' in page

    # Stuck: unchanged for N minutes (Cinder's updated_at filter). A volume just changed is not.
    alice_client.post(f"/volumes/{demo.volume('scratch')['id']}/edit/", {"name": "scratch", "description": "now"})
    assert watchers.wait_idle(20)
    page = admin.get("/manage/volumes/", {"stuck": "5"}).content.decode()
    assert "<bdi>scratch</bdi>" not in page and "<bdi>data-01</bdi>" in page  # seeded days ago
    page = admin.get("/manage/volumes/", {"name": "scratch", "stuck": ""}).content.decode()
    assert "<bdi>scratch</bdi>" in page

    # A page at a time, by Cinder's marker; the pages together are every volume once.
    monkeypatch.setattr("volpanel.volumes.admin_views.PAGE_SIZE", 2)
    seen: list[str] = []
    url = "/manage/volumes/?status=available"
    for _ in range(5):
        page = admin.get(url).content.decode()
        seen += [line.split('data-volume="')[1].split('"')[0] for line in page.splitlines() if "data-volume=" in line]
        if 'rel="next"' not in page:
            break
        url = "/manage/volumes/" + page.split('<a href="')[-1].split('" rel="next"')[0].replace("&amp;", "&")
        assert "First page" in page or len(seen) == 2
    assert len(seen) == len(set(seen)) == 4  # every available volume (web-root is in use), each once

    # Bad filters are said next to their fields and Cinder is not asked.
    lists = volume_lists(demo)
    for params, message in [({"project": "not a project"}, "No project has this name"),
                            ({"status": "bogus"}, "Choose the status from the list."),
                            ({"name": "a\x07b"}, "The name can use printable characters only"),
                            ({"marker": "nope"}, "start from the first page"),
                            ({"stuck": "0"}, "Give at least 1 minute.")]:
        page = admin.get("/manage/volumes/", params).content.decode()
        assert message in page, params
    assert volume_lists(demo) == lists
    # A marker whose volume is gone: said, and the first page offered.
    page = admin.get("/manage/volumes/", {"marker": str(uuid4())}).content.decode()
    assert "The volume this page started after is gone" in page

    # A member is refused, and the nav does not offer it.
    assert alice_client.get("/manage/volumes/").status_code == 403
    assert 'href="/manage/volumes/"' not in alice_client.get("/volumes/").content.decode()


def test_an_admin_force_detaches_one_attachment_with_a_reason(demo: Demo, alice_client: Client) -> None:
    vid = demo.volume("scratch")["id"]
    alice_client.post(f"/volumes/{vid}/attach_host/", {"host_name": "bm-7", "mountpoint": "/dev/sdc", "mode": "rw"})
    assert watchers.wait_idle(20)
    (attachment,) = demo.volume("scratch")["attachments"]
    admin = Client()
    web_login(admin, "admin", "admin")
    page = admin.get(f"/manage/volumes/{vid}/").content.decode()
    assert f'value="{attachment["attachment_id"]}"' in page and "a host at /dev/sdc" in page
    url = f"/manage/volumes/{vid}/force_detach/"
    posts = action_posts(demo)
    for data, message in [({"attachment_id": attachment["attachment_id"]}, "Say why"),
                          ({"attachment_id": str(uuid4()), "reason": "x"}, "may have been detached meanwhile"),
                          ({"reason": "x"}, "Choose the attachment to detach.")]:
        response = admin.post(url, data)
        assert response.status_code == 400 and message in response.content.decode(), data
    assert alice_client.post(url, {"attachment_id": attachment["attachment_id"], "reason": "x"}).status_code == 403
    assert action_posts(demo) == posts
    response = admin.post(url, {"attachment_id": attachment["attachment_id"], "reason": "bm-7 was decommissioned",
                                "idempotency_key": uuid4().hex})
    assert response.status_code == 302
    assert watchers.wait_idle(20)
    row = AuditEntry.objects.get(action="os-force_detach")
    assert (row.outcome, row.attachment_id, row.reason, row.detail) == (
        Outcome.SUCCEEDED, attachment["attachment_id"], "bm-7 was decommissioned", "Detached.")
    assert demo.volume("scratch")["status"] == "available"
    page = admin.get(f"/manage/volumes/{vid}/").content.decode()
    assert 'data-testid="reason-force_detach"' in page and "this volume has none" in page


def test_an_admin_force_deletes_a_volume_after_typing_its_name(demo: Demo, alice_client: Client) -> None:
    bob = demo.volume("bob-secret")
    admin = Client()
    web_login(admin, "admin", "admin")
    url = f"/manage/volumes/{bob['id']}/force_delete/"
    posts = action_posts(demo)
    for data, message in [({"confirm_name": "bob-secret"}, "Say why"),
                          ({"confirm_name": "bob-secre", "reason": "x"}, "type bob-secret exactly to delete it"),
                          ({"reason": "x"}, "a deleted volume and its data cannot be brought back")]:
        response = admin.post(url, data)
        assert response.status_code == 400 and message in response.content.decode(), data
    assert alice_client.post(url, {"confirm_name": "bob-secret", "reason": "x"}).status_code == 403
    assert action_posts(demo) == posts
    response = admin.post(url, {"confirm_name": "bob-secret", "reason": "Project other asked for it gone",
                                "idempotency_key": uuid4().hex})
    assert response.status_code == 302 and response["Location"] == "/manage/volumes/"
    assert watchers.wait_idle(20)
    row = AuditEntry.objects.get(action="os-force_delete")
    assert (row.outcome, row.detail, row.volume_project_id, row.reason) == (
        Outcome.SUCCEEDED, "The volume was deleted.", bob["project_id"], "Project other asked for it gone")
    assert "bob-secret" not in [v["name"] for v in demo.state()["volumes"].values()]
    # A volume with snapshots (alice's, another project's) or an attached one is not offered: the page says why.
    page = admin.get(f"/manage/volumes/{demo.volume('data-01')['id']}/").content.decode()
    assert "Force delete refuses a volume with snapshots" in page
    web = demo.volume("web-root")
    page = admin.get(f"/manage/volumes/{web['id']}/").content.decode()
    assert "Force delete refuses an attached volume" in page


def test_an_admin_migrates_a_volume_to_another_pool_and_the_row_follows_it(
        demo: Demo, alice_client: Client) -> None:
    vol = demo.volume("bob-secret")
    admin = Client()
    web_login(admin, "admin", "admin")
    page = admin.get(f"/manage/volumes/{vol['id']}/").content.decode()
    assert '<option value="democloud@lvm-b#lvm-b">' in page and '<option value="democloud@lvm#lvm">' not in page
    url = f"/manage/volumes/{vol['id']}/migrate/"
    posts = action_posts(demo)
    for data, message in [({"host": "democloud@lvm-b#lvm-b"}, "Say why"),
                          ({"host": "democloud@lvm#lvm", "reason": "x"}, "other pools (the list may have changed"),
                          ({"reason": "x"}, "Choose the pool to migrate to.")]:
        response = admin.post(url, data)
        assert response.status_code == 400 and message in response.content.decode(), data
    assert alice_client.post(url, {"host": "democloud@lvm-b#lvm-b", "reason": "x"}).status_code == 403
    assert action_posts(demo) == posts
    response = admin.post(url, {"host": "democloud@lvm-b#lvm-b", "lock_volume": "on", "reason": "Draining lvm",
                                "idempotency_key": uuid4().hex})
    assert response.status_code == 302
    assert watchers.wait_idle(20)
    row = AuditEntry.objects.get(action="os-migrate_volume")
    assert (row.outcome, row.detail, row.parameters["lock_volume"], row.parameters["was_host"]) == (
        Outcome.SUCCEEDED, "The volume is now on democloud@lvm-b#lvm-b.", True, "democloud@lvm#lvm")
    page = admin.get(f"/manage/volumes/{vol['id']}/").content.decode()
    assert "democloud@lvm-b#lvm-b</code>" in page and 'data-testid="volume-migration-status">success' in page


def test_admin_pages_name_projects_as_keystone_lists_them_and_fall_back_to_ids(
        demo: Demo, alice_client: Client) -> None:
    from volpanel import cloud

    cloud._project_names.clear()
    bob = demo.volume("bob-secret")
    admin = Client()
    web_login(admin, "admin", "admin")
    page = admin.get("/manage/volumes/").content.decode()
    # The list's column and filter: names (GET /v3/projects with the admin's token), the id behind each.
    assert f'<a href="?project={bob["project_id"]}" title="project id {bob["project_id"]}"><bdi>other</bdi></a>' in page
    assert '<datalist id="project-names">' in page and '<option value="other">' in page
    page = admin.get("/manage/volumes/", {"project": "other"}).content.decode()
    assert "bob-secret" in page and "data-01" not in page
    page = admin.get(f"/manage/volumes/{bob['id']}/").content.decode()
    assert f'<bdi>other</bdi> (<code>{bob["project_id"]}</code>)' in page
    # Asked once a minute per cloud, not per page.
    admin.get("/manage/volumes/")
    assert demo.requests_served().get("GET /identity/v3/projects") == 1

    # A project's name is whatever Keystone says, hostile or not: text, never markup.
    hostile = '<img src=x onerror=alert(1)>\u202eevil'
    cloud._project_names.put(cloud.cloud_config().auth_url, {bob["project_id"]: hostile})
    page = admin.get(f"/manage/volumes/{bob['id']}/").content.decode()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page

    # Keystone does not answer: ids, and the filter takes ids only, saying why.
    cloud._project_names.clear()
    demo.faults(http=[{"service": "identity", "method": "GET", "path": "/v3/projects", "status": 503}])
    page = admin.get("/manage/volumes/").content.decode()
    assert f'<code>{bob["project_id"]}</code></a>' in page and "<bdi>other</bdi>" not in page
    page = admin.get("/manage/volumes/", {"project": "other"}).content.decode()
    assert "Project names are not available now" in page
    page = admin.get("/manage/volumes/", {"project": bob["project_id"]}).content.decode()
    assert "bob-secret" in page
    demo.clear_faults()



def test_a_tenant_s_history_shows_a_cloud_administrator_s_repair_without_the_admin_s_name(
        demo: Demo, alice_client: Client) -> None:
    vid, failed = failed_extend(demo, alice_client)
    admin = Client()
    web_login(admin, "admin", "admin")
    form = admin.get(f"/manage/volumes/{vid}/?repair={failed.uuid}").content.decode()
    assert "The volume&#x27;s project also sees it in the volume&#x27;s History" in form  # the form says where
    reason = "Back end checked <b>by ops</b>;\nthe extend never happened."
    response = admin.post(f"/manage/volumes/{vid}/reset_status/", {
        "status": "available", "reason": reason, "repairs": str(failed.uuid), "idempotency_key": uuid4().hex})
    assert response.status_code == 302
    assert watchers.wait_idle(20)
    fixed = AuditEntry.objects.get(action="os-reset_status")
    assert fixed.outcome == Outcome.SUCCEEDED and fixed.project_id != fixed.volume_project_id

    # The volume's project sees the repair: action, time, outcome and reason, by "Cloud administrator".
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    history = page.split('data-testid="history"')[1].split("</table>")[0]
    assert history.count("<tr ") == 2 and "Reset status" in history and 'data-outcome="succeeded"' in history
    assert '<span data-testid="cloud-admin">Cloud administrator</span>' in history
    assert "Back end checked &lt;b&gt;by ops&lt;/b&gt;;<br>the extend never happened." in history
    assert "<td>admin</td>" not in history and ">admin<" not in history  # not the administrator's name
    assert "<td>alice</td>" in history  # her own row, under her name

    # Another project's tenant never gets it: its History of the volume has none of these rows; the admin's own
    # project still has the admin's row (by name), and the volume's project both.
    other = demo.volume("bob-secret")["project_id"]
    assert list(AuditEntry.objects.for_volume(other, vid)) == []
    assert [e.pk for e in AuditEntry.objects.for_volume(fixed.project_id, vid)] == [fixed.pk]
    rows = selectors.history(fixed.volume_project_id, vid)
    assert [(e.pk, e.by_cloud_admin) for e in rows] == [(fixed.pk, True), (failed.pk, False)]
    assert [e.by_cloud_admin for e in selectors.history(fixed.project_id, vid)] == [False]
