"""The action registry (volpanel/volumes/actions.py): every layer reads the specifications, so an action is one
specification, and nothing about a particular action is written anywhere else."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import Demo
from tests.volumes.test_views import HTMX
from volpanel.audit.models import AuditEntry, Outcome
from volpanel.lib import memo
from volpanel.volumes import actions, watchers

ROOT = Path(__file__).resolve().parent.parent.parent


def test_it_names_every_audited_kind_once_and_every_spec_s_kinds_are_registered() -> None:
    names = [spec.name for spec in actions.SPECS]
    assert len(names) == len(set(names)) and set(names) == set(actions.BY_NAME)
    used = {kind.name for spec in actions.SPECS for kind in spec.audited}
    # Every kind a row may hold is one some action records, and each is registered under its own name.
    assert used == set(actions.AUDITED)
    assert all(actions.AUDITED[name].name == name for name in actions.AUDITED)
    for kind in actions.AUDITED.values():
        assert kind.label and kind.seed_weight > 0 and len(kind.name) <= 32  # AuditEntry.action's length
        assert kind.api_path.format(volume_id="v", server_id="s", snapshot_id="p").startswith(
            ("/volumes/v", "/servers/s", "/snapshots"))
    for spec in actions.SPECS:
        assert spec.label and spec.hint.endswith(".") and spec.audit_names == tuple(a.name for a in spec.audited)


def test_the_volume_page_template_has_no_branch_for_any_particular_action() -> None:
    template = (ROOT / "templates" / "volpanel" / "volume.html").read_text()
    assert not re.search(r"\bname\s*==", template)
    for spec in actions.SPECS:
        assert f'"{spec.name}"' not in template and f"'{spec.name}'" not in template, spec.name


def test_a_row_of_a_kind_this_version_does_not_know_is_labelled_by_its_name_and_not_judged() -> None:
    entry = AuditEntry(action="os-frobnicate", parameters={})
    assert actions.label("os-frobnicate") == "os-frobnicate" and actions.label("os-extend") == "Extend"
    assert actions.judge(entry, None) == (Outcome.UNKNOWN, "The volume no longer exists.")


def test_a_new_specification_is_offered_checked_sent_and_audited_with_no_other_change(
        demo: Demo, alice_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evidence that an action is one specification: a spec added to the registry alone gets its button,
    hint, form, availability check, cloud call, audit row and judged outcome."""
    extend = actions.BY_NAME["extend"]
    grow = dataclasses.replace(extend, name="grow", label="Grow a little",
                               hint="Grow the volume by one GiB at a time (a test's action).",
                               initial=lambda page: {"new_size": page.volume.size + 1})
    monkeypatch.setattr(actions, "SPECS", (*actions.SPECS, grow))
    monkeypatch.setattr(actions, "BY_NAME", {**actions.BY_NAME, "grow": grow})
    memo.clear_all()  # the action panel is memoized per volume state
    demo.config(delay=0.0)
    vid = demo.volume("data-01")["id"]

    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert 'data-action="grow"' in page and "Grow a little" in page and "one GiB at a time" in page
    assert f'action="/volumes/{vid}/grow/"' in page

    refused = alice_client.post(f"/volumes/{vid}/grow/", {"new_size": "5"}, **HTMX)
    assert "The new size must be larger than the current 10 GiB." in refused.content.decode()
    assert not AuditEntry.objects.exists()

    answer = alice_client.post(f"/volumes/{vid}/grow/", {"new_size": "11"}, **HTMX)
    assert "Extend accepted by the cloud" in answer.content.decode() or "already done" in answer.content.decode()
    assert watchers.wait_idle(10)
    row = AuditEntry.objects.get()
    assert (row.action, row.outcome, row.detail) == ("os-extend", Outcome.SUCCEEDED, "The volume is now 11 GiB.")
    memo.clear_all()
