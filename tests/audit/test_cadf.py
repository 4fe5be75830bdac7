"""Audit rows as CADF events, with pycadf's field names and keystonemiddleware's forms (volpanel/audit/cadf.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.test import Client

from tests.audit.conftest import T0, make_row
from volpanel.audit.cadf import CADF_OUTCOME, event
from volpanel.audit.models import Outcome
from volpanel.volumes import actions

pytestmark = pytest.mark.django_db


def test_it_describes_a_row_as_a_cadf_activity_event(staff_client: Client) -> None:
    entry = make_row(volume_id="5b9a3c1e-0d7f-4f7e-9d3a-1c2b3a4d5e6f", volume_name="data-01", actor_id="u-1",
                     actor_name="alice", actor_domain="Default", project_id="p-1", source_ip="192.0.2.10",
                     user_agent="Firefox/140", cloud="https://keystone.example/v3",
                     request_id="req-4f7c0e1a-2b3c-4d5e-8f90-123456789abc", outcome="succeeded")
    cadf = event(entry)
    assert cadf == {
        "typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event",
        "id": str(entry.uuid),
        "eventType": "activity",
        "eventTime": "2026-11-20T12:00:00.000000+0000",
        "action": "update/os-extend",
        "outcome": "success",
        "initiator": {"typeURI": "service/security/account/user", "id": "u-1", "name": "alice",
                      "domain": "Default", "project_id": "p-1",
                      "host": {"address": "192.0.2.10", "agent": "Firefox/140"}},
        "target": {"typeURI": "service/storage/block/volume", "id": "5b9a3c1e-0d7f-4f7e-9d3a-1c2b3a4d5e6f",
                   "name": "data-01"},
        "observer": {"typeURI": "service/dashboard", "id": "volpanel", "name": "volpanel"},
        "requestPath": "/volumes/5b9a3c1e-0d7f-4f7e-9d3a-1c2b3a4d5e6f/action",
        "reason": {"reasonType": "HTTP", "reasonCode": "202"},
        "tags": ["correlation_id?value=req-4f7c0e1a-2b3c-4d5e-8f90-123456789abc"],
        "attachments": [
            {"typeURI": "mime:text/plain", "name": "volpanel_outcome", "content": "succeeded"},
            {"typeURI": "mime:application/json", "name": "parameters", "content": {"new_size": 11, "old_size": 10}},
            {"typeURI": "mime:text/plain", "name": "request_id",
             "content": "req-4f7c0e1a-2b3c-4d5e-8f90-123456789abc"},
            {"typeURI": "mime:text/plain", "name": "detail", "content": "size reached"},
            {"typeURI": "mime:text/plain", "name": "status_before", "content": "available"},
            {"typeURI": "mime:text/plain", "name": "status_after", "content": "available"},
            {"typeURI": "mime:text/plain", "name": "cloud", "content": "https://keystone.example/v3"},
            {"typeURI": "mime:text/plain", "name": "answered_at", "content": "2026-11-20T12:00:01.000000+0000"},
            {"typeURI": "mime:text/plain", "name": "settled_at", "content": "2026-11-20T12:00:05.000000+0000"},
        ],
    }
    # The export is one such event a line, for the current filter.
    make_row(volume_name="other", actor_name="bob", at=T0 + timedelta(hours=1))
    response = staff_client.get("/audit/export/cadf/?user=alice")
    assert isinstance(response, StreamingHttpResponse) and isinstance(response.streaming_content, Iterator)
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line) for line in lines] == [json.loads(json.dumps(cadf))]


def test_it_maps_every_outcome_and_action_and_leaves_out_what_is_not_known() -> None:
    assert set(CADF_OUTCOME) == set(Outcome.values)
    # Every audited kind of the registry has its CADF action: the verb, then the API's name.
    assert all(re.fullmatch(r"(create|update|delete)/[\w-]+", kind.cadf_action) for kind in actions.AUDITED.values())
    assert {CADF_OUTCOME[o] for o in Outcome.values} == {"success", "failure", "pending", "unknown"}
    expected = {"pending": "pending", "accepted": "pending", "rejected": "failure", "error": "failure",
                "succeeded": "success", "failed": "failure", "unknown": "unknown"}
    for outcome, cadf_outcome in expected.items():
        cadf = event(make_row(outcome=outcome))
        assert cadf["outcome"] == cadf_outcome, outcome
        assert cadf["attachments"][0] == {"typeURI": "mime:text/plain", "name": "volpanel_outcome",
                                          "content": outcome}
    # No answer from the cloud: no HTTP reason, no correlation tag; no address: no host.
    silent = event(make_row(outcome="error"))
    assert "reason" not in silent and "tags" not in silent and "host" not in silent["initiator"]
    attach = event(make_row(action="server-attach", server_id="s-1", volume_id="v-1"))
    assert attach["action"] == "create/os-volume_attachments"
    assert attach["requestPath"] == "/servers/s-1/os-volume_attachments"
    detach = event(make_row(action="server-detach", server_id="s-1", volume_id="v-1"))
    assert detach["action"] == "delete/os-volume_attachments"
    assert detach["requestPath"] == "/servers/s-1/os-volume_attachments/v-1"
    assert event(make_row(action="os-retype"))["action"] == "update/os-retype"
