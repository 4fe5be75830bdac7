"""Sessions: Django's database sessions (SESSION_ENGINE), read with one plain statement.

Every page reads its session first (the Keystone token is in it, and never leaves the server). Django's store
builds a QuerySet for it each time, ~0.12 ms of Python on SQLite and ~0.25 ms on PostgreSQL before the query
runs; the same SELECT written out costs ~0.02 ms. Decoding what it returns (the signature checked, the data
inflated and parsed) takes twice that again, and a session's data is the same page after page: what a stored text
decodes to is kept for a while, by the text itself. Writes, expiry and key cycling are Django's."""

from __future__ import annotations

import copy
from typing import Any

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

from volpanel.lib.memo import Memo

# Stored session texts (signed, so only a text this process verified is ever found here) and what they decoded to.
# A session that changed is stored as another text and decoded afresh; an expired one is not read at all (the
# SELECT below); a text that fails its signature decodes to {} as with Django, every time (and is logged).
_decoded: Memo[str | bytes, dict[str, Any]] = Memo("sessions.decoded", ttl=300.0, size=256)


class SessionStore(db.SessionStore):
    def decode(self, session_data: str | bytes) -> dict[str, Any]:
        found = _decoded.get(session_data)
        if found is None:
            found = super().decode(session_data)
            if not found:
                return found
            _decoded.put(session_data, found)
        return copy.deepcopy(found)  # a request changing its session changes no other request's

    def _get_session_from_db(self) -> Any:
        model = self.model
        session_key = self.session_key
        assert session_key is not None  # SessionBase.load asks only with a key
        using = router.db_for_read(model)
        connection = connections[using]
        q = connection.ops.quote_name
        table, key, data, expires = (q(name) for name in (model._meta.db_table, "session_key", "session_data",
                                                          "expire_date"))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {data} FROM {table} WHERE {key} = %s AND {expires} > %s",
                           [session_key, connection.ops.adapt_datetimefield_value(timezone.now())])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django's store: a key with no live session is not this session's
            return None
        return model(session_key=session_key, session_data=row[0])
