"""Token buckets in the database, shared by every web process and host: a rate with a burst, per key.

One statement a take (an upsert that refills, takes and answers at once), so two processes taking at the same
instant never both get the last token, and a page pays one round trip for it: through Django's cache it was a
read, a count, and a write transaction of three statements."""

from __future__ import annotations

import functools
import math
import random
import time

from django.db import connection, models

# A row idle long enough to have refilled is the same as no row: a take deletes those now and then.
PRUNE_CHANCE = 1 / 500


class Bucket(models.Model):
    key = models.CharField(max_length=128, primary_key=True)
    tokens = models.FloatField()  # what is left after the last take, before refilling
    at = models.FloatField()  # when (seconds since the epoch) that was
    taken = models.BooleanField(default=True)  # whether the last take got its cost

    class Meta:
        app_label = "volpanel"
        db_table = "volpanel_bucket"

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:g} at {self.at:.3f}"


def take(key: str, rate: float, burst: float, cost: float = 1.0) -> float:
    """Take `cost` from the bucket `key` (it refills at `rate` per second up to `burst`): 0 if taken, else the
    seconds until it could be."""
    now = time.time()
    for value in (rate, burst, cost, now):
        if not math.isfinite(value):
            raise ValueError(f"a bucket's rate, burst and cost must be finite numbers, not {value!r}")
    first = burst >= cost
    with connection.cursor() as cursor:
        cursor.execute(_take_sql(connection.vendor, float(rate), float(burst), float(cost)),
                       [key, burst - cost if first else burst, now, first])
        tokens, taken = cursor.fetchone()
        if random.random() < PRUNE_CHANCE:
            q = connection.ops.quote_name
            cursor.execute(f"DELETE FROM {q(Bucket._meta.db_table)} WHERE {q('at')} < %s", [now - burst / rate - 60])
    return 0.0 if taken else (cost - tokens) / rate


@functools.lru_cache(maxsize=16)
def _take_sql(vendor: str, rate: float, burst: float, cost: float) -> str:
    """take's statement for a database vendor and a bucket's numbers. Its text depends on nothing else (the time of
    the take is the row it would have inserted, `excluded`), so it is built once and the database and the driver
    keep it prepared. The numbers are written into it as floats (settings, never text from a request)."""
    q = connection.ops.quote_name
    table = q(Bucket._meta.db_table)
    tokens_, at_, now_ = f"{table}.{q('tokens')}", f"{table}.{q('at')}", f"excluded.{q('at')}"
    refilled = f"{tokens_} + (CASE WHEN {now_} > {at_} THEN {now_} - {at_} ELSE 0 END) * {rate!r}"
    level = f"CASE WHEN {refilled} < {burst!r} THEN {refilled} ELSE {burst!r} END"
    return (f"INSERT INTO {table} ({q('key')}, {q('tokens')}, {q('at')}, {q('taken')}) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT ({q('key')}) DO UPDATE SET "
            f"{q('tokens')} = CASE WHEN {level} >= {cost!r} THEN {level} - {cost!r} ELSE {level} END, "
            f"{q('taken')} = ({level} >= {cost!r}), {q('at')} = {now_} "
            f"RETURNING {q('tokens')}, {q('taken')}")
