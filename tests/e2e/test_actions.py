"""Every seed action from the browser, as a tenant clicks it: the status streams in and the History shows the
settled outcome, with no page reload."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, log_in

pytestmark = pytest.mark.browser


def panel(page: Any, action: str) -> Any:
    details = page.locator(f"details[data-action={action}]")
    details.locator("summary").click()
    return details


def extend_in_use(page: Any) -> None:
    form = panel(page, "extend")
    form.get_by_label("New size (GiB)").fill("25")
    form.get_by_role("button", name="Extend").click()


def attach_server(page: Any) -> None:
    form = panel(page, "attach_server")
    form.get_by_label("Server").select_option(label="db-1 (ACTIVE)")
    form.get_by_role("button", name="Attach to server").click()


def attach_host(page: Any) -> None:
    form = panel(page, "attach_host")
    form.get_by_label("Host name").fill("bm-7")
    form.get_by_label("Mountpoint").fill("/dev/sdc")
    form.get_by_role("button", name="Attach to host").click()
    # Real Cinder names no host for an os-attach attachment: the page shows the one volpanel recorded, marked so.
    expect(page.get_by_test_id("recorded-host")).to_have_text("bm-7", timeout=10_000)
    expect(page.get_by_test_id("attachments")).to_contain_text("bm-7 from volpanel's record")


def detach(page: Any) -> None:
    form = panel(page, "detach")
    form.get_by_role("button", name="Detach").click()


def retype(page: Any) -> None:
    form = panel(page, "retype")
    form.get_by_label("New type").select_option("gold")
    form.get_by_role("button", name="Change type").click()


def upload(page: Any) -> None:
    form = panel(page, "upload")
    form.get_by_label("Image name").fill("scratch-image")
    form.get_by_label("Disk format").select_option("raw")
    form.get_by_role("button", name="Upload to image").click()


def upload_snapshot(page: Any) -> None:
    form = panel(page, "upload_snapshot")
    form.get_by_label("Snapshot").select_option(index=1)
    form.get_by_label("Image name").fill("snap-image")
    form.get_by_role("button", name="Upload snapshot to image").click()


def revert(page: Any) -> None:
    form = panel(page, "revert")
    expect(form).to_contain_text("data-01-snap-tue")
    # The confirmation is required: the browser refuses to submit until it is ticked.
    form.get_by_role("button", name="Revert to snapshot").click()
    assert form.get_by_label("I understand").evaluate("el => !el.validity.valid")
    form.get_by_label("I understand").check()
    form.get_by_role("button", name="Revert to snapshot").click()


def edit(page: Any) -> None:
    form = panel(page, "edit")
    expect(form.get_by_label("Name")).to_have_value("scratch")
    form.get_by_label("Name").fill("scratch-renamed")
    form.get_by_label("Description").fill("made in the browser")
    form.get_by_role("button", name="Edit name and description").click()


def set_bootable(page: Any) -> None:
    form = panel(page, "bootable")
    # Offered the other way round from what the volume is: one click changes it.
    expect(form.get_by_label("Bootable")).to_be_checked()
    form.get_by_role("button", name="Set bootable").click()


def take_snapshot(page: Any) -> None:
    form = panel(page, "snapshot")
    form.get_by_label("Name").fill("scratch-nightly")
    form.get_by_role("button", name="Take snapshot").click()


def delete_snapshot(page: Any) -> None:
    form = panel(page, "delete_snapshot")
    # The confirmation names the snapshot revert would use.
    expect(form.get_by_label(re.compile("data-01-snap-tue"))).to_be_visible()
    expect(form).to_contain_text(
        re.compile(r"data-01-snap-tue .* the latest: the snapshot Revert to snapshot would use"))
    form.get_by_label(re.compile("data-01-snap-mon")).check()
    form.get_by_label("I understand").check()
    form.get_by_role("button", name="Delete snapshot").click()


def set_readonly(page: Any) -> None:
    expect(page.get_by_test_id("volume-readonly")).to_have_text("no")
    form = panel(page, "readonly")
    # Offered the other way round from what the volume is: one click changes it.
    expect(form.get_by_label("Read-only")).to_be_checked()
    form.get_by_role("button", name="Set read-only").click()


def set_image_property(page: Any) -> None:
    expect(page.get_by_test_id("volume-image-metadata")).to_have_text("none")
    form = panel(page, "image_metadata")
    form.get_by_label("Property").fill("os_distro")
    form.get_by_label("Value").fill("debian")
    form.get_by_role("button", name="Set image property").click()
    expect(page.get_by_test_id("volume-image-metadata")).to_have_text("os_distro = debian")


def remove_image_property(page: Any) -> None:
    # web-root was made from the cirros image: Cinder keeps the image's properties for it.
    expect(page.get_by_test_id("volume-image-metadata")).to_contain_text("image_name = cirros-0.6.3-x86_64-disk")
    form = panel(page, "unset_image_metadata")
    form.get_by_label("Property").select_option("image_name")
    form.get_by_role("button", name="Remove image property").click()
    expect(page.get_by_test_id("volume-image-metadata")).not_to_contain_text("image_name")


def reimage(page: Any) -> None:
    form = panel(page, "reimage")
    form.get_by_label("Image", exact=True).select_option(label="cirros-0.6.3-x86_64-disk (qcow2, 1 GiB)")
    form.get_by_label("I understand that everything on the volume is replaced").check()
    form.get_by_role("button", name="Reimage").click()
    expect(page.get_by_test_id("volume-image-metadata")).to_contain_text("image_name = cirros-0.6.3-x86_64-disk",
                                                                          timeout=10_000)


CASES: list[tuple[str, str, Callable[[Any], None], str, str]] = [
    # (volume, audit action, what the tenant does, accepted text, text the settled page shows)
    ("web-root", "os-extend", extend_in_use, "Extend accepted", "25 GiB"),
    ("scratch", "server-attach", attach_server, "Attach to server accepted", "db-1"),
    ("scratch", "os-attach", attach_host, "Attach to host accepted", "/dev/sdc"),
    ("web-root", "server-detach", detach, "Detach from server accepted", "Not attached."),
    ("scratch", "os-retype", retype, "Change type accepted", "gold"),
    ("scratch", "os-volume_upload_image", upload, "Upload to image accepted", "scratch-image: active"),
    ("data-01", "os-volume_upload_image", upload_snapshot, "Upload to image accepted", "snap-image: active"),
    ("data-01", "revert", revert, "Revert to snapshot accepted", "available"),
    ("scratch", "volume-update", edit, "Edit name and description accepted", "now named scratch-renamed"),
    ("scratch", "os-set_bootable", set_bootable, "Set bootable accepted", "The volume is now bootable."),
    ("data-01", "snapshot-delete", delete_snapshot, "Delete snapshot accepted", "The snapshot was deleted."),
    ("scratch", "os-update_readonly_flag", set_readonly, "Set read-only accepted", "The volume is now read-only."),
    ("scratch", "snapshot-create", take_snapshot, "Take snapshot accepted", "Snapshot scratch-nightly is available."),
    ("scratch", "os-set_image_metadata", set_image_property, "Set image property accepted",
     "Image property os_distro is set."),
    ("web-root", "os-unset_image_metadata", remove_image_property, "Remove image property accepted",
     "Image property image_name is removed."),
    ("scratch", "os-reimage", reimage, "Reimage accepted", "The volume now holds image cirros-0.6.3-x86_64-disk."),
]


@pytest.mark.parametrize(("volume", "action", "act", "accepted", "settled"), CASES,
                         ids=[c[2].__name__ for c in CASES])
def test_it_runs_the_action_and_streams_it_to_its_settled_outcome(
        page: Any, demo: Any, live_volpanel: LiveServer, volume: str, action: str,
        act: Callable[[Any], None], accepted: str, settled: str) -> None:
    demo.config(delay=1.0)
    log_in(page)
    page.get_by_role("link", name=volume, exact=True).click()
    reloads: list[str] = []
    page.on("framenavigated", lambda frame: reloads.append(frame.url))
    act(page)
    announcement = page.get_by_test_id("announcement")
    # The cloud's acceptance shows until the volume settles (~1 s here); on a loaded machine the browser may
    # first look after the outcome replaced it, which is the same answer one step on.
    label = accepted.removesuffix(" accepted")
    expect(announcement).to_contain_text(re.compile(rf"{re.escape(label)} (accepted|succeeded)"))
    history = page.get_by_test_id("history")
    # History is newest first; the live server's database outlives single tests.
    expect(history.locator("tbody tr").first).to_have_attribute("data-outcome", "succeeded", timeout=20_000)
    expect(page.locator("#volume-live")).to_contain_text(settled)
    # The "accepted, following live" news is replaced by the outcome: no banner outlives what it says.
    expect(announcement).to_have_attribute("data-outcome", "succeeded")
    # Streamed as "… succeeded", or answered "… accepted by the cloud and already done" if it settled first.
    expect(announcement).to_contain_text(
        re.compile(rf"{re.escape(label)} (succeeded|accepted by the cloud and already done)"))
    assert reloads == []
    row = live_volpanel.audit_rows()[-1]
    assert (row["action"], row["outcome"], row["actor_name"]) == (action, "succeeded", "alice")
    assert row["request_id"] and row["settled_at"] and row["status_before"] and row["status_after"]


def test_an_in_use_extend_shows_nova_s_extend_volume_arriving_after_the_volume_is_in_use(
        page: Any, demo: Any, live_volpanel: LiveServer) -> None:
    demo.config(delay=2.0)  # in-use again after 2 s; Nova records extend_volume 1 s later
    log_in(page)
    page.get_by_role("link", name="web-root", exact=True).click()
    extend_in_use(page)
    followup = page.get_by_test_id("nova-followup")
    expect(followup).to_have_attribute("data-state", "waiting", timeout=10_000)
    expect(followup).to_contain_text("Cinder finished; waiting for Nova to record extend_volume")
    expect(page.locator("#volume-live")).to_contain_text("25 GiB")
    expect(page.get_by_test_id("nova-extend")).to_contain_text("Nova recorded extend_volume", timeout=10_000)
    expect(followup).to_have_count(0)
    assert live_volpanel.audit_rows()[-1]["outcome"] == "succeeded"


def test_an_in_use_extend_nova_never_hears_of_stops_waiting_and_says_so(
        page: Any, demo: Any, live_volpanel: LiveServer) -> None:
    demo.config(delay=0.5)
    demo.faults(backend={"nova_event": "lost"})  # Cinder's volume-extended event never reaches Nova
    log_in(page)
    page.get_by_role("link", name="web-root", exact=True).click()
    extend_in_use(page)
    followup = page.get_by_test_id("nova-followup")
    expect(followup).to_have_attribute("data-state", "gave-up", timeout=15_000)
    expect(followup).to_contain_text("Nova recorded no extend_volume within 3 seconds, so volpanel stopped waiting")
    expect(followup).to_contain_text("The volume is 25 GiB")
    expect(page.get_by_test_id("history").locator("tbody tr").first).to_have_attribute("data-outcome", "succeeded")
    assert live_volpanel.audit_rows()[-1]["outcome"] == "succeeded"


def test_it_shows_a_snapshot_taken_on_the_page_going_available_and_reverts_to_it(page: Any, demo: Any) -> None:
    demo.config(delay=2.0)
    log_in(page)
    page.get_by_role("link", name="scratch", exact=True).click()
    expect(page.get_by_test_id("reason-revert")).to_contain_text("this volume has none")
    take_snapshot(page)
    snapshots = page.get_by_test_id("snapshots")
    # Streamed: the row appears while Cinder is still making it, then turns available, with no reload.
    expect(snapshots).to_contain_text("creating")
    expect(snapshots).to_contain_text("available", timeout=20_000)
    expect(page.get_by_test_id("history").locator("tbody tr").first).to_have_attribute(
        "data-outcome", "succeeded", timeout=20_000)
    form = panel(page, "revert")
    expect(form).to_contain_text("scratch-nightly")
    form.get_by_label("I understand").check()
    form.get_by_role("button", name="Revert to snapshot").click()
    expect(page.get_by_test_id("announcement")).to_contain_text(
        re.compile(r"Revert to snapshot (accepted|succeeded)"))
    expect(page.get_by_test_id("history").locator("tbody tr").first).to_contain_text("Revert to snapshot")
    expect(page.get_by_test_id("history").locator("tbody tr").first).to_have_attribute(
        "data-outcome", "succeeded", timeout=20_000)


def test_it_shows_a_failure_after_the_202_with_cinder_s_message_and_guidance(page: Any, demo: Any) -> None:
    demo.faults(backend={"extend": "fail"})
    log_in(page)
    page.get_by_role("link", name="data-01", exact=True).click()
    form = panel(page, "extend")
    form.get_by_label("New size (GiB)").fill("11")
    form.get_by_role("button", name="Extend").click()
    expect(page.get_by_test_id("history").locator("tbody tr").first).to_have_attribute(
        "data-outcome", "failed", timeout=20_000)
    expect(page.get_by_test_id("volume-status")).to_contain_text("error_extending")
    expect(page.get_by_test_id("guidance")).to_contain_text("Ask your cloud administrator")
    expect(page.get_by_test_id("user-message").first).to_contain_text("extend volume")


def test_it_works_without_javascript(browser: Any, demo: Any, live_volpanel: LiveServer) -> None:
    context = browser.new_context(base_url=live_volpanel.url, java_script_enabled=False)
    page = context.new_page()
    log_in(page)
    page.get_by_role("link", name="data-01", exact=True).click()
    form = panel(page, "extend")
    form.get_by_label("New size (GiB)").fill("12")
    form.get_by_role("button", name="Extend").click()
    page.wait_for_url("**/volumes/*/")
    expect(page.get_by_text("Extend accepted by the cloud")).to_be_visible()
    context.close()
