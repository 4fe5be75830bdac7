"""lib.buckets: token buckets in the database, one statement a take."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from volpanel.lib import buckets
from volpanel.lib.buckets import Bucket


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_800_000_000.0]
    monkeypatch.setattr(buckets.time, "time", lambda: now[0])
    return now


@pytest.mark.django_db
def test_it_gives_a_burst_then_refills_at_its_rate(clock: list[float]) -> None:
    assert [buckets.take("b", rate=0.5, burst=3) for _ in range(4)] == [0, 0, 0, 2.0]
    clock[0] += 1  # half a token back: a second more to a whole one
    assert buckets.take("b", rate=0.5, burst=3) == pytest.approx(1.0)
    clock[0] += 1
    assert buckets.take("b", rate=0.5, burst=3) == 0
    clock[0] += 3600  # never more than the burst, however long it rested
    assert [buckets.take("b", rate=0.5, burst=3) for _ in range(4)] == [0, 0, 0, 2.0]
    assert buckets.take("other", rate=0.5, burst=3) == 0  # each key its own bucket


@pytest.mark.django_db
def test_a_refused_take_costs_nothing_and_a_clock_going_back_gives_nothing(clock: list[float]) -> None:
    buckets.take("b", rate=1, burst=1)
    for _ in range(5):
        assert buckets.take("b", rate=1, burst=1) == pytest.approx(1.0)
    clock[0] += 1
    assert buckets.take("b", rate=1, burst=1) == 0  # the refusals did not dig a hole
    clock[0] -= 30  # another host's clock behind: no refill, no negative one either
    assert buckets.take("b", rate=1, burst=1) == pytest.approx(1.0)


@pytest.mark.django_db
def test_a_take_is_one_statement(clock: list[float]) -> None:
    buckets.take("b", rate=1, burst=5)
    with CaptureQueriesContext(connection) as queries:
        buckets.take("b", rate=1, burst=5)
    assert len(queries) == 1 and queries[0]["sql"].startswith("INSERT INTO")


@pytest.mark.django_db
def test_rows_that_refilled_long_ago_are_pruned(clock: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    buckets.take("old", rate=1, burst=10)
    clock[0] += 10 + 61
    monkeypatch.setattr(buckets, "PRUNE_CHANCE", 1.0)
    buckets.take("new", rate=1, burst=10)
    assert sorted(Bucket.objects.values_list("key", flat=True)) == ["new"]


def test_it_refuses_numbers_that_are_not_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        buckets.take("b", rate=float("inf"), burst=3)


@pytest.mark.django_db(transaction=True)
def test_takes_at_the_same_instant_never_give_out_more_than_the_burst(clock: Any) -> None:
    # Eight threads (eight connections), fifty takes each, from a bucket of 100 that does not refill meanwhile.
    got: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def taker() -> None:
        start.wait()
        try:
            for _ in range(50):
                wait = buckets.take("shared", rate=1e-9, burst=100)
                with lock:
                    got.append(wait)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=taker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(got) == 400 and got.count(0.0) == 100
