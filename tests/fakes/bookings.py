"""In-memory twin of the booking repository, honouring the same contract (tests/bookings_contract.py)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from shared.bookings.booking import Booking
from shared.bookings.model import token_hash
from shared.bookings.repository import DecidedFrom, Row, SlotTaken
from shared.store.lease import Lease
from shared.store.port import DocStore
from tests.fakes.store import FakeDocStore

_FIELDS = tuple(f.name for f in dataclasses.fields(Booking))


class FakeBookingRepository:
    def __init__(self, leases: DocStore | None = None) -> None:
        self.leases: DocStore = leases if leases is not None else FakeDocStore()
        """Where the leases that fence writes live (the production adapter reads them in the write's transaction)."""
        self.bookings: dict[str, Booking] = {}
        self.cells: dict[str, str] = {}
        self.outbox: list[tuple[str, int]] = []
        """(booking_id, revision) of every revision stored, as the outbox would hold them."""
        self._hold_releases: set[str] = set()
        self._lock = threading.RLock()

    def get(self, booking_id: str) -> Booking | None:
        return self.bookings.get(booking_id)

    def with_manage_token(self, token: str) -> Row | None:
        wanted = token_hash(token)
        return next(((i, b) for i, b in self.bookings.items() if b.manage_token_hash == wanted), None)

    def of_creator(self, creator_id: str, starting_before: datetime | None = None) -> list[Row]:
        rows = [
            (i, b)
            for i, b in self.bookings.items()
            if b.creator_id == creator_id and (starting_before is None or b.start < starting_before)
        ]
        return sorted(rows, key=lambda row: row[1].start)

    def holds_expired_by(self, now: datetime, batch: int) -> Iterator[Row]:
        return self._due(lambda b: b.hold_expires_at, now)

    def mail_due_by(self, now: datetime, batch: int) -> Iterator[Row]:
        return self._due(lambda b: b.mail_due_at, now)

    def reminders_due_by(self, now: datetime, batch: int) -> Iterator[Row]:
        return self._due(lambda b: b.next_reminder_at, now)

    def link_nudges_due_by(self, now: datetime, batch: int) -> Iterator[Row]:
        return self._due(lambda b: b.link_nudge_at, now)

    def manage_tokens_sealed_under(self, key_versions: Sequence[str], limit: int) -> list[Row]:
        rows = [(i, b) for i, b in self.bookings.items() if b.manage_token_sealed.get("key_version") in key_versions]
        return rows[:limit]

    def add(self, booking_id: str, booking: Booking) -> None:
        with self._lock:
            self._claim(booking_id, None, booking)
            self.bookings[booking_id] = booking
            self.outbox.append((booking_id, booking.revision))

    def update_if(
        self,
        booking_id: str,
        seen: Booking,
        changes: Booking,
        decided_from: DecidedFrom = Booking.decided_from,
        fence: Lease | None = None,
    ) -> Booking | None:
        with self._lock:
            if fence is not None:
                fence.check(self.leases.get)
            current = self.bookings.get(booking_id)
            if current is None or decided_from(current) != decided_from(seen):
                return None
            self._claim(booking_id, current, changes)
            written = self._apply(current, seen, changes)
            self.bookings[booking_id] = written
            if written.revision != current.revision:
                self.outbox.append((booking_id, written.revision))
            return written

    def record(self, booking_id: str, seen: Booking, changes: Booking) -> Booking:
        with self._lock:
            self.bookings[booking_id] = self._apply(self.bookings[booking_id], seen, changes)
        return changes

    def cell_holders(self, cells: Sequence[str]) -> set[str]:
        return {self.cells[cell] for cell in cells if cell in self.cells}

    def claim_hold_release(self, booking_id: str, booking: Booking, now: datetime) -> bool:
        with self._lock:
            marker = f"{booking_id}-{booking.revision}"
            if marker in self._hold_releases:
                return False
            self._hold_releases.add(marker)
            return True

    # ---- helpers -------------------------------------------------------------------------------------------

    def _claim(self, booking_id: str, before: Booking | None, after: Booking) -> None:
        """Move the booking's cell claims from `before` to `after`, all or nothing."""
        held = set(before.cells) if before is not None and before.claims_cells else set()
        wanted = set(after.cells) if after.claims_cells else set()
        if any(cell in self.cells for cell in wanted - held):
            raise SlotTaken(booking_id)
        for cell in held - wanted:
            del self.cells[cell]
        for cell in wanted - held:
            self.cells[cell] = booking_id

    @staticmethod
    def _apply(current: Booking, seen: Booking, changes: Booking) -> Booking:
        moved = {name: getattr(changes, name) for name in _FIELDS if getattr(seen, name) != getattr(changes, name)}
        return dataclasses.replace(current, **moved)

    def _due(self, moment: Callable[[Booking], datetime | None], now: datetime) -> Iterator[Row]:
        """Oldest due first, then by id, as the DocStore adapter pages them."""
        due = [(at, i, b) for i, b in self.bookings.items() if (at := moment(b)) is not None and at <= now]
        return iter([(i, b) for _, i, b in sorted(due, key=lambda row: (row[0], row[1]))])
