"""The only way to read and change a booking: a port, and its adapter over the document-store port.

Storing a booking also keeps what belongs to it consistent in the same commit: the 5-minute slot
cells it claims (so two overlapping bookings collide on a document) and the outbox entry of every
new revision (so a crash before publishing loses no event).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.availability import MAX_DURATION_MINUTES
from shared.bookings.booking import Booking, Fan, GoogleEventRef, ZoomMeetingRef
from shared.bookings.model import BOOKINGS, CELLS, HOLD_RELEASE_RETENTION, HOLD_RELEASES, token_hash
from shared.bookings.outbox import outbox_write
from shared.store.lease import Lease
from shared.store.port import Conflict, Cursor, Doc, DocStore, Txn, Where, Write, create, delete, paged, update

log = logging.getLogger(__name__)

DecidedFrom = Callable[[Booking], tuple[object, ...]]
"""What a conditional write was decided from; the write is refused once the stored booking's differs."""

Row = tuple[str, Booking]

LONGEST_BOOKING = timedelta(minutes=MAX_DURATION_MINUTES)
"""No offer is longer, so a booking overlapping a window starts at most this long before it."""


@dataclass(frozen=True)
class PageMark:
    """Where a page of a creator's bookings ended: its last booking's end, and its id to break ties."""

    end: datetime
    booking_id: str


def each_of_creator(
    bookings: BookingRepository,
    creator_id: str,
    *,
    upcoming: bool,
    now: datetime,
    batch: int = 100,
    after: PageMark | None = None,
) -> Iterator[Row]:
    """The creator's upcoming (or past) bookings in list order, read a page at a time as the caller goes on: a
    job over the whole list (a broken connection's email, a reconnect's healing, Zoom's erasure) or a list that
    skips some rows holds one page in memory, and stops reading when it stops asking."""
    while True:
        rows = bookings.page_of_creator(creator_id, upcoming=upcoming, now=now, size=batch, after=after)
        yield from rows
        if len(rows) < batch:
            return
        after = PageMark(rows[-1][1].end, rows[-1][0])


class SlotTaken(Exception):
    """Another booking holds one of the slot cells this booking needs."""


class BookingRepository(Protocol):
    def get(self, booking_id: str) -> Booking | None: ...

    def with_manage_token(self, token: str) -> Row | None: ...

    def overlapping(self, creator_id: str, low: datetime, high: datetime) -> list[Row]:
        """The creator's bookings (of any status) whose time overlaps [low, high), whatever the history's length."""
        ...

    def page_of_creator(
        self, creator_id: str, *, upcoming: bool, now: datetime, size: int, after: PageMark | None = None
    ) -> list[Row]:
        """Up to `size` of the creator's bookings: upcoming (not yet ended, soonest end first) or past (ended,
        newest end first), following the page that ended at `after`."""
        ...

    def holds_expired_by(self, now: datetime, batch: int) -> Iterator[Row]:
        """Every booking due by `now` (here: its hold expired), oldest due first, read `batch` at a time.

        The same for the three below. A stored booking that cannot be read is logged and passed over,
        so it never hides the ones after it; one changed while being read is never read twice.
        """
        ...

    def mail_due_by(self, now: datetime, batch: int) -> Iterator[Row]: ...

    def reminders_due_by(self, now: datetime, batch: int) -> Iterator[Row]: ...

    def link_nudges_due_by(self, now: datetime, batch: int) -> Iterator[Row]: ...

    def manage_tokens_sealed_under(self, key_versions: Sequence[str], limit: int) -> list[Row]:
        """Bookings whose manage token a retired key version sealed: the re-seal sweep moves them on."""
        ...

    def add(self, booking_id: str, booking: Booking) -> None:
        """Store a new booking with its cells and its first outbox entry; SlotTaken if a cell is held."""
        ...

    def update_if(
        self,
        booking_id: str,
        seen: Booking,
        changes: Booking,
        decided_from: DecidedFrom = Booking.decided_from,
        fence: Lease | None = None,
    ) -> Booking | None:
        """Write `changes` (the booking `seen` as it should become) only if the stored booking is still the
        one the change was decided from (same `decided_from`), in one transaction. Only fields that differ
        from `seen` (and are not so already) are written, and with none the check is a plain read; cells
        are claimed and released as the status and times say, and a new revision gets its outbox entry.
        Returns the booking as now stored, or None if it changed or is gone. Raises SlotTaken when a cell
        the new version needs is held by another booking, LeaseLost when the write is made under a `fence`
        lease that another caller took over, and Contended (nothing written) when other transactions held
        the booking too long."""
        ...

    def record(self, booking_id: str, seen: Booking, changes: Booking) -> Booking:
        """Write the fields in which `changes` differs from `seen`, unconditionally: only for fields nobody else
        decides from a read of them (the sweeps' timers); anything else goes through `update_if`.
        Returns `changes`, the caller's booking from now on (so its next change is measured from it)."""
        ...

    def cell_holders(self, cells: Sequence[str]) -> set[str]:
        """The bookings holding any of these cells."""
        ...

    def claim_hold_release(self, booking_id: str, booking: Booking, now: datetime) -> bool:
        """True for exactly one caller per expired hold and revision: that one releases it."""
        ...


# ---- the stored shape -------------------------------------------------------------------------------------

_FIELDS = tuple(f.name for f in dataclasses.fields(Booking))


def _encode(value: Any) -> Any:
    if isinstance(value, Fan | ZoomMeetingRef | GoogleEventRef):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _to_doc(booking: Booking) -> Doc:
    return {name: _encode(getattr(booking, name)) for name in _FIELDS}


def _from_doc(doc: Doc) -> Booking:
    values = {name: doc[name] for name in _FIELDS if name in doc}
    fan = doc["fan"]
    values["fan"] = Fan(name=fan["name"], email=fan["email"], timezone=fan.get("timezone"))
    values["cells"] = tuple(doc.get("cells") or ())
    values["reminders_sent"] = tuple(doc.get("reminders_sent") or ())
    zoom = doc.get("zoom")
    values["zoom"] = (
        ZoomMeetingRef(meeting_id=int(zoom["meeting_id"]), join_url=str(zoom["join_url"]), start=zoom["start"])
        if zoom
        else None
    )
    event = doc.get("google_event")
    values["google_event"] = (
        GoogleEventRef(
            event_id=event["event_id"],
            start=event["start"],
            zoom_url=event.get("zoom_url"),
            meet_url=event.get("meet_url"),
        )
        if event
        else None
    )
    return Booking(**values)


def _differences(seen: Booking, changes: Booking) -> Doc:
    return {name: _encode(getattr(changes, name)) for name in _FIELDS if getattr(seen, name) != getattr(changes, name)}


def _cell_writes(booking_id: str, before: Booking | None, after: Booking) -> list[Write]:
    held = set(before.cells) if before is not None and before.claims_cells else set()
    wanted = set(after.cells) if after.claims_cells else set()
    released = [delete(CELLS, cell) for cell in (before.cells if before else ()) if cell in held - wanted]
    claimed = [create(CELLS, cell, {"booking_id": booking_id}) for cell in after.cells if cell in wanted - held]
    return released + claimed


class DocStoreBookingRepository:
    """Bookings over the DocStore port (Firestore in production and integration tests, its fake in unit tests)."""

    def __init__(self, store: DocStore) -> None:
        self._store = store

    def get(self, booking_id: str) -> Booking | None:
        doc = self._store.get(BOOKINGS, booking_id)
        return _from_doc(doc) if doc is not None else None

    def with_manage_token(self, token: str) -> Row | None:
        rows = self._query([Where("manage_token_hash", "==", token_hash(token))], limit=1)
        return rows[0] if rows else None

    def overlapping(self, creator_id: str, low: datetime, high: datetime) -> list[Row]:
        rows = self._query(
            [
                Where("creator_id", "==", creator_id),
                Where("start", ">", low - LONGEST_BOOKING),
                Where("start", "<", high),
            ]
        )
        return [(i, b) for i, b in rows if b.end > low]

    def page_of_creator(
        self, creator_id: str, *, upcoming: bool, now: datetime, size: int, after: PageMark | None = None
    ) -> list[Row]:
        start_after = (after.end, after.booking_id) if after is not None else None
        if upcoming:
            return self._page(
                [Where("creator_id", "==", creator_id), Where("end", ">", now)],
                "end",
                size,
                start_after,
                descending=False,
            )
        return self._page(
            [Where("creator_id", "==", creator_id), Where("end", "<=", now)], "end", size, start_after, descending=True
        )

    def holds_expired_by(self, now: datetime, batch: int) -> Iterator[Row]:
        return self._due("hold_expires_at", now, batch)

    def mail_due_by(self, now: datetime, batch: int) -> Iterator[Row]:
        return self._due("mail_due_at", now, batch)

    def reminders_due_by(self, now: datetime, batch: int) -> Iterator[Row]:
        return self._due("next_reminder_at", now, batch)

    def link_nudges_due_by(self, now: datetime, batch: int) -> Iterator[Row]:
        return self._due("link_nudge_at", now, batch)

    def manage_tokens_sealed_under(self, key_versions: Sequence[str], limit: int) -> list[Row]:
        return self._query([Where("manage_token_sealed.key_version", "in", list(key_versions))], limit=limit)

    def add(self, booking_id: str, booking: Booking) -> None:
        writes = [
            create(BOOKINGS, booking_id, _to_doc(booking)),
            outbox_write(booking_id, booking.revision, booking.created_at),
            *_cell_writes(booking_id, None, booking),
        ]
        try:
            self._store.commit(writes)
        except Conflict:
            raise SlotTaken(booking_id) from None

    def update_if(
        self,
        booking_id: str,
        seen: Booking,
        changes: Booking,
        decided_from: DecidedFrom = Booking.decided_from,
        fence: Lease | None = None,
    ) -> Booking | None:
        fields = _differences(seen, changes)
        if not fields:
            return self._unchanged_if(booking_id, seen, decided_from, fence)

        def run(txn: Txn) -> Booking | None:
            if fence is not None:
                fence.check(txn.get)
            stored = txn.get(BOOKINGS, booking_id)
            if stored is None:
                return None
            current = _from_doc(stored)
            if decided_from(current) != decided_from(seen):
                return None
            # A retry after another caller made the same change writes nothing.
            missing = {name: value for name, value in fields.items() if stored.get(name) != value}
            if missing:
                txn.write(update(BOOKINGS, booking_id, missing))
            for write in _cell_writes(booking_id, current, changes):
                txn.write(write)
            if changes.revision != current.revision:
                txn.write(outbox_write(booking_id, changes.revision, changes.updated_at))
            return _from_doc({**stored, **fields})

        try:
            return self._store.transaction(run)
        except Conflict:
            raise SlotTaken(booking_id) from None

    def _unchanged_if(
        self, booking_id: str, seen: Booking, decided_from: DecidedFrom, fence: Lease | None
    ) -> Booking | None:
        """update_if with nothing to write: only whether the booking is still as decided, by plain reads (every
        redelivery of a settled booking's event asks exactly this)."""
        if fence is not None:
            fence.check(self._store.get)
        current = self.get(booking_id)
        return current if current is not None and decided_from(current) == decided_from(seen) else None

    def record(self, booking_id: str, seen: Booking, changes: Booking) -> Booking:
        fields = _differences(seen, changes)
        if fields:
            self._store.commit([update(BOOKINGS, booking_id, fields)])
        return changes

    def cell_holders(self, cells: Sequence[str]) -> set[str]:
        holders = {(self._store.get(CELLS, cell) or {}).get("booking_id") for cell in cells}
        return {str(holder) for holder in holders if holder is not None}

    def claim_hold_release(self, booking_id: str, booking: Booking, now: datetime) -> bool:
        try:
            marker = {"booking_id": booking_id, "at": now, "expires_at": now + HOLD_RELEASE_RETENTION}
            self._store.commit([create(HOLD_RELEASES, f"{booking_id}-{booking.revision}", marker)])
        except Conflict:
            return False
        return True

    def _query(self, where: Sequence[Where], order_by: str | None = None, limit: int | None = None) -> list[Row]:
        return _readable(self._store.query(BOOKINGS, where, order_by, limit))

    def _page(
        self, where: Sequence[Where], order_by: str, size: int, after: Cursor | None, *, descending: bool
    ) -> list[Row]:
        """Up to `size` readable bookings following `after`; one that cannot be read is passed over and the
        next is read in its place, so a page is never cut short (and the list never ended early) by it."""
        rows: list[Row] = []
        while len(rows) < size:
            want = size - len(rows)
            found = self._store.query(BOOKINGS, where, order_by, want, after, descending=descending)
            rows.extend(_readable(found))
            if len(found) < want:
                break
            last_id, last = found[-1]
            after = (last[order_by], last_id)
        return rows

    def _due(self, field: str, now: datetime, batch: int) -> Iterator[Row]:
        for doc_id, doc in paged(self._store, BOOKINGS, [Where(field, "<=", now)], field, batch):
            yield from _readable([(doc_id, doc)])


def _readable(docs: Iterable[tuple[str, Doc]]) -> list[Row]:
    """The bookings among `docs` that can be read; any other is logged, never allowed to hide the rest."""
    rows: list[Row] = []
    for doc_id, doc in docs:
        try:
            rows.append((doc_id, _from_doc(doc)))
        except (KeyError, TypeError, ValueError):
            log.exception("a stored booking cannot be read; passed over", extra={"booking_id": doc_id})
    return rows
