"""volumes.selectors: the pure parts (what counts as Nova's answer to an action, what the page shows of it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import Demo
from volpanel.openstack.nova import InstanceAction
from volpanel.volumes.selectors import NovaFollowUp, VolumePage, recorded_since


def action(name: str, start: str, request_id: str = "req-1") -> InstanceAction:
    return InstanceAction(action=name, request_id=request_id, start_time=start, message="")


ASKED = datetime(2026, 12, 4, 10, 0, 5, 400_000, tzinfo=UTC)


def test_recorded_since_takes_nova_s_whole_seconds_and_its_clock_slack_but_not_an_older_action() -> None:
    older = action("extend_volume", "2026-12-04T09:59:40.000000", "req-old")
    same_second = action("extend_volume", "2026-12-04T10:00:05.000000", "req-new")  # Nova drops the fraction
    assert recorded_since([same_second, older], "extend_volume", ASKED) == same_second
    assert recorded_since([older], "extend_volume", ASKED) is None
    # Listed newest first, but an attach of the same second may come before it; other actions are skipped.
    attach = action("attach_volume", "2026-12-04T10:00:06Z")
    assert recorded_since([attach, same_second], "extend_volume", ASKED) == same_second
    assert recorded_since([action("extend_volume", "not a time")], "extend_volume", ASKED) is None


def test_the_page_shows_a_server_s_newest_extend_volume_unless_it_waits_for_a_newer_one() -> None:
    newest = action("extend_volume", "2026-12-04T10:00:05Z", "req-new")
    page = VolumePage(volume=None, features=None, snapshots=[], types=[], limits=None,  # type: ignore[arg-type]
                      servers=[], messages=[],
                      instance_actions={"srv-1": [action("attach_volume", "2026-12-04T10:00:05Z"), newest],
                                        "srv-2": [newest]})
    assert page.nova_extends == [("srv-1", newest), ("srv-2", newest)]
    waiting = NovaFollowUp(server_id="srv-2", action="extend_volume", since=ASKED)
    page.nova_followups = (waiting,)
    assert page.nova_extends == [("srv-1", newest)]


@pytest.mark.django_db
def test_an_action_s_fresh_state_gives_its_form_what_the_whole_page_gives_it(demo: Demo, alice: Any) -> None:
    from volpanel.cloud import connect
    from volpanel.volumes import actions, selectors

    cloud = connect(alice)
    for name in ("data-01", "web-root", "scratch"):
        vid = demo.volume(name)["id"]
        page = selectors.load_volume_page(cloud, vid)
        for spec in actions.SPECS:
            if spec.audience != "tenant":
                continue
            state = selectors.load_action_state(cloud, vid, spec.needs)
            assert state.volume == page.volume, name
            # Availability, every choice offered and what a post of the page's own form makes of it: the same on
            # the action's state as on the whole page, so the needs name everything the form reads.
            assert spec.available(state) == spec.available(page), (name, spec.name)
            full, checked = spec.bind(page), spec.bind(state)
            data = {field: full[field].value() for field in full.fields}
            data = {k: v for k, v in data.items() if v is not None}
            posted_full, posted_checked = spec.bind(page, data), spec.bind(state, data)
            assert posted_full.is_valid() == posted_checked.is_valid(), (name, spec.name)
            assert posted_full.errors == posted_checked.errors, (name, spec.name)
            for field, form_field in full.fields.items():
                other = checked.fields[field]
                assert (getattr(form_field, "choices", None), form_field.help_text) == (
                    getattr(other, "choices", None), other.help_text), (name, spec.name, field)
    with pytest.raises(ValueError, match="not parts of an action's state"):
        selectors.load_action_state(cloud, demo.volume("data-01")["id"], frozenset({"messages"}))


@pytest.mark.django_db
def test_the_page_s_own_work_runs_on_its_thread_while_cinder_answers_the_volume_get(
        demo: Demo, alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from volpanel.cloud import connect
    from volpanel.openstack.cinder import CinderClient
    from volpanel.volumes import selectors

    cloud = connect(alice)
    vid = demo.volume("data-01")["id"]
    history_read = threading.Event()
    seen: dict[str, str] = {}
    real_get = CinderClient.get_volume

    def get_volume(self: CinderClient, volume_id: str) -> Any:
        seen["get"] = threading.current_thread().name
        # Answered only once the History was read: a page that read it after the GET would wait here in vain.
        assert history_read.wait(5), "the volume GET waited for the History"
        return real_get(self, volume_id)

    def meanwhile() -> None:
        seen["meanwhile"] = threading.current_thread().name
        history_read.set()

    monkeypatch.setattr(CinderClient, "get_volume", get_volume)
    page = selectors.load_volume_page(cloud, vid, reuse=True, meanwhile=meanwhile)
    assert page.volume.id == vid
    assert seen["meanwhile"] == threading.current_thread().name and seen["get"] != seen["meanwhile"]
    # Without anything to do meanwhile, the GET stays on the page's thread (no thread switch on its one wait).
    history_read.set()
    selectors.load_volume_page(cloud, vid, reuse=True)
    assert seen["get"] == threading.current_thread().name


@pytest.mark.django_db
def test_the_list_page_is_rendered_around_the_list_while_this_thread_makes_the_get(
        demo: Demo, alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from volpanel.cloud import connect
    from volpanel.openstack.cinder import CinderClient
    from volpanel.volumes import selectors

    cloud = connect(alice)
    sent, rendered = threading.Event(), threading.Event()
    seen: dict[str, str] = {}
    real_list = CinderClient.list_volumes

    def list_volumes(self: CinderClient) -> Any:
        seen["get"] = threading.current_thread().name
        sent.set()
        # Answered only once the page around it was rendered: both go on at once.
        assert rendered.wait(5), "the page around the list waited for the GET"
        return real_list(self)

    def meanwhile() -> None:
        seen["meanwhile"] = threading.current_thread().name
        assert sent.wait(5), "the GET waited for the page around the list"
        rendered.set()

    monkeypatch.setattr(CinderClient, "list_volumes", list_volumes)
    names = [v.name for v in selectors.list_volumes(cloud, meanwhile=meanwhile)]
    assert "data-01" in names
    assert seen["get"] == threading.current_thread().name and seen["meanwhile"] != seen["get"]

    # What failed on either side is raised, once the other side is done.
    def failing() -> None:
        raise RuntimeError("the template failed")

    with pytest.raises(RuntimeError, match="the template failed"):
        selectors.list_volumes(cloud, meanwhile=failing)
