"""accounts.auth: the signed-in cloud user, read from the session."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from django.test import RequestFactory

from volpanel.accounts import auth
from volpanel.openstack.session import Credentials


def _stored(token: str) -> str:
    return Credentials(auth_state=json.dumps({"auth_token": token, "body": {}}), user_id="u1", user_name="alice",
                       user_domain="Default", project_id="p1", project_name="demo", roles=["member"],
                       expires_at=datetime(2030, 1, 1, tzinfo=UTC)).to_json()


def _request(stored: str | None) -> object:
    request = RequestFactory().get("/")
    request.session = {auth.CREDENTIALS_KEY: stored} if stored else {}  # type: ignore[attr-defined]
    return request


def test_a_session_s_pages_share_one_parse_of_its_credentials_and_the_token_s_name() -> None:
    stored = _stored("tok-1")
    first, second = (auth.credentials(_request(stored)) for _ in range(2))  # type: ignore[arg-type]
    assert first is second and first is not None
    assert (first.user_name, first.project_name, first.roles, first.expires_at) == (
        "alice", "demo", ["member"], datetime(2030, 1, 1, tzinfo=UTC))
    assert first.token == "tok-1" and first.token_hash == hashlib.sha256(b"tok-1").hexdigest()
    # What the session stores again is the credentials alone: the token's name is not written beside it.
    assert json.loads(first.to_json()).keys() == json.loads(stored).keys()
    # Another token is other credentials; no session, no credentials.
    other = auth.credentials(_request(_stored("tok-2")))  # type: ignore[arg-type]
    assert other is not None and other.token == "tok-2" and other is not first
    assert auth.credentials(_request(None)) is None  # type: ignore[arg-type]
