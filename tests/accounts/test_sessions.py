"""accounts.sessions: Django's database sessions, read with one plain statement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from volpanel.accounts.sessions import SessionStore


@pytest.mark.django_db
def test_it_reads_what_django_s_store_wrote_in_one_statement() -> None:
    from django.contrib.sessions.backends.db import SessionStore as DjangoStore

    written = DjangoStore()
    written["volpanel.credentials"] = '{"token": "secret", "names": ["<b>é</b>"]}'
    written.save()
    store = SessionStore(written.session_key)
    with CaptureQueriesContext(connection) as queries:
        assert store["volpanel.credentials"] == '{"token": "secret", "names": ["<b>é</b>"]}'
    assert len(queries) == 1 and queries[0]["sql"].startswith("SELECT")
    # And Django's store reads what this one writes.
    store["more"] = 1
    store.save()
    assert DjangoStore(written.session_key)["more"] == 1


@pytest.mark.django_db
def test_an_expired_or_unknown_key_reads_as_no_session_and_is_never_reused() -> None:
    old = SessionStore()
    old["volpanel.credentials"] = "x"
    old.save()
    Session.objects.filter(session_key=old.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = SessionStore(old.session_key)
    assert expired.get("volpanel.credentials") is None
    planted = SessionStore("plantedbyanattacker0123456789ab")
    assert planted.get("volpanel.credentials") is None
    for store in (expired, planted):
        store["after"] = 1
        store.save()
        # A key the database did not know (or knew only as expired) is not taken over: the saved session is new.
        assert store.session_key not in (old.session_key, "plantedbyanattacker0123456789ab")


@pytest.mark.django_db
def test_a_session_s_data_is_decoded_once_and_every_request_gets_its_own_copy(
        caplog: pytest.LogCaptureFixture) -> None:
    from django.contrib.sessions.backends.base import SessionBase

    written = SessionStore()
    written["volpanel.projects"] = [{"id": "p1", "name": "demo"}]
    written.save()
    stored = Session.objects.get(session_key=written.session_key).session_data
    decodes: list[str] = []
    real_decode = SessionBase.decode

    def counted(self: SessionBase, data: str) -> dict[str, object]:
        decodes.append(data)
        return real_decode(self, data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SessionBase, "decode", counted)
        first, second = SessionStore(written.session_key), SessionStore(written.session_key)
        first["volpanel.projects"].append({"id": "p2", "name": "other"})  # changed in place, not saved
        assert second["volpanel.projects"] == [{"id": "p1", "name": "demo"}]
        assert decodes == [stored]
        # A session that changed is stored as another text, and that is decoded afresh.
        first.modified = True
        first.save()
        assert SessionStore(written.session_key)["volpanel.projects"][-1]["name"] == "other"
        assert len(decodes) == 2 and decodes[1] != stored
        # Data whose signature fails decodes to nothing, as with Django's store, each time it is read.
        forged = stored[:-3] + ("AAA" if not stored.endswith("AAA") else "BBB")
        with caplog.at_level("WARNING"):
            assert SessionStore().decode(forged) == {} and SessionStore().decode(forged) == {}
        assert decodes[2:] == [forged, forged]
