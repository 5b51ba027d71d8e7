"""A short lease its live holder renews: kept while the holder beats, lapsed soon after it crashed, and fenced.

Every test moves a fake clock; only the last one lets the heartbeat's own thread run, and it waits for what
the thread did, never for a length of time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from shared.bookings.repository import DocStoreBookingRepository
from shared.store.lease import LEASES, Heartbeat, LeaseLost, renew_lease, take_lease
from shared.store.port import Contended, DocStore, Txn
from tests.fakes.clock import FakeClock
from tests.fakes.store import DelegatingStore, FakeDocStore
from tests.unit.test_bookings_harness import Harness, at

T = TypeVar("T")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)
BEAT = TTL / 3


def test_a_holder_that_renews_keeps_its_lease_past_the_first_ttl() -> None:
    store = FakeDocStore()
    mine = take_lease(store, "job", NOW, TTL)
    assert mine is not None
    for beat in range(1, 10):  # a minute and a half of work, renewed every 10 s
        assert renew_lease(store, mine, NOW + beat * BEAT, TTL)
        assert take_lease(store, "job", NOW + beat * BEAT + BEAT / 2, TTL) is None

    assert mine.held(store.get)
    assert store.get(LEASES, "job")["expires_at"] == NOW + 9 * BEAT + TTL  # type: ignore[index]


def test_a_crashed_holders_lease_lapses_one_ttl_after_its_last_renewal() -> None:
    store = FakeDocStore()
    crashed = take_lease(store, "job", NOW, TTL)
    assert crashed is not None
    assert renew_lease(store, crashed, NOW + BEAT, TTL)  # then it was killed: no more beats

    assert take_lease(store, "job", NOW + BEAT + TTL - timedelta(microseconds=1), TTL) is None
    successor = take_lease(store, "job", NOW + BEAT + TTL, TTL)
    assert successor is not None and successor.holder != crashed.holder


def test_a_holder_whose_lease_lapsed_and_was_taken_over_can_neither_renew_nor_write() -> None:
    h = Harness(now=NOW)
    booking_id, _ = h.booked(h.offer(h.creator()), at(9))
    bookings = DocStoreBookingRepository(h.store)
    stalled = take_lease(h.store, "job", NOW, TTL)
    assert stalled is not None
    successor = take_lease(h.store, "job", NOW + TTL, TTL)  # it stalled past its lease without a beat
    assert successor is not None

    assert not renew_lease(h.store, stalled, NOW + TTL, timedelta(hours=1))
    assert h.store.get(LEASES, "job")["expires_at"] == NOW + 2 * TTL  # type: ignore[index]  # still the successor's
    seen = bookings.get(booking_id)
    assert seen is not None
    with pytest.raises(LeaseLost):
        bookings.update_if(booking_id, seen, replace(seen, mail_due_at=None), fence=stalled)
    with pytest.raises(LeaseLost):  # even a write that would change nothing
        bookings.update_if(booking_id, seen, seen, fence=stalled)
    assert bookings.update_if(booking_id, seen, replace(seen, mail_due_at=None), fence=successor) is not None


class _ContendedOnce(DelegatingStore):
    def __init__(self, inner: DocStore) -> None:
        super().__init__(inner)
        self.contend = False

    def transaction(self, fn: Callable[[Txn], T]) -> T:
        if self.contend:
            self.contend = False
            raise Contended("Transaction lock timeout.")
        return super().transaction(fn)


def test_a_heartbeat_renews_from_its_clock_rides_out_a_contended_renewal_and_stops_once_the_lease_is_lost() -> None:
    store = _ContendedOnce(FakeDocStore())
    clock = FakeClock(NOW)
    lease = take_lease(store, "job", NOW, TTL)
    assert lease is not None
    heartbeat = Heartbeat(store, lease, clock, TTL, BEAT.total_seconds())

    clock.advance(BEAT)
    assert heartbeat.beat()
    assert store.get(LEASES, "job")["expires_at"] == NOW + BEAT + TTL  # type: ignore[index]
    store.contend = True
    clock.advance(BEAT)
    assert heartbeat.beat() and not heartbeat.lost  # not renewed this time, still held
    clock.advance(BEAT)
    assert heartbeat.beat()
    assert store.get(LEASES, "job")["expires_at"] == NOW + 3 * BEAT + TTL  # type: ignore[index]

    clock.advance(2 * TTL)  # the holder stalled: nothing beat for two TTLs, and another worker took over
    assert take_lease(store, "job", clock.now(), TTL) is not None
    assert not heartbeat.beat() and heartbeat.lost


def test_a_heartbeat_whose_first_renewal_is_contended_still_holds_its_lease() -> None:
    store = _ContendedOnce(FakeDocStore())
    lease = take_lease(store, "job", NOW, TTL)
    assert lease is not None
    heartbeat = Heartbeat(store, lease, FakeClock(NOW), TTL, BEAT.total_seconds())
    assert heartbeat.lost is False

    store.contend = True
    assert heartbeat.beat() and heartbeat.lost is False


def test_the_heartbeat_thread_is_named_for_its_lease_and_never_keeps_the_process_alive() -> None:
    store = FakeDocStore()
    lease = take_lease(store, "job", NOW, TTL)
    assert lease is not None

    with Heartbeat(store, lease, FakeClock(NOW), TTL, every=60):
        [thread] = [t for t in threading.enumerate() if t.name == "heartbeat job"]
        assert thread.daemon


def test_the_heartbeat_thread_renews_while_its_with_block_runs() -> None:
    store = FakeDocStore()
    clock = FakeClock(NOW)
    lease = take_lease(store, "job", NOW, TTL)
    assert lease is not None
    renewed = threading.Event()

    with Heartbeat(store, lease, clock, TTL, every=0.01):
        clock.advance(TTL)  # the work is taking a while
        deadline = time.monotonic() + 10
        while not renewed.is_set() and time.monotonic() < deadline:
            if store.get(LEASES, "job")["expires_at"] == NOW + 2 * TTL:  # type: ignore[index]
                renewed.set()
            time.sleep(0.01)

    assert renewed.is_set(), "the heartbeat never renewed the lease"
    assert lease.held(store.get)
