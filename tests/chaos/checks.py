"""The invariants of the chaos run, read from the store (Firestore emulator), the sandbox and the mail sink."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from shared.bookings.model import BOOKINGS, CELLS, OUTBOX, is_zoom_url
from shared.bookings.notices import NOTICES
from shared.notify.ledger import EMAILS
from shared.providers.google_calendar import event_id_for
from shared.store.lease import LEASES
from tests.chaos.stories import ChaosCreator, Story
from tests.e2e.flo import Flo

EmailKey = tuple[str, str, int, str]
"""(booking id, kind, revision, recipient role): one message owed or sent."""
OWED_BY_CHANGE = {
    "confirmed": (("confirmation", "fan"), ("creator_notification", "creator")),
    "rescheduled": (("rescheduled", "fan"), ("rescheduled", "creator")),
    "cancelled": (("cancelled", "fan"), ("cancelled", "creator")),
    "expired": (),
}
"""What the booking's last change owes (contract: emails); a hold that was never paid owes nothing."""
BOOKING_KINDS = frozenset(kind for owed in OWED_BY_CHANGE.values() for kind, _ in owed) | {"link_ready"}
"""The kinds the ledger keys by booking revision (reminders and connection notices are keyed otherwise)."""
SEQUENCE = re.compile(r"^SEQUENCE:(\d+)", re.MULTILINE)
LINK = re.compile(r"https://(?:[a-z0-9.]*zoom\.us/j/|meet\.google\.com/)[^\s\"'<>]+")

INVARIANTS = (
    "settled",
    "lost_bookings",
    "double_booked_cells",
    "zoom_meetings",
    "orphan_google_events",
    "emails_exactly_once",
    "fan_told_current_link",
    "false_reconnect_required",
)


@dataclass
class Snapshot:
    """Everything the checks read, taken once after settling."""

    bookings: dict[str, dict[str, Any]]
    cells: dict[str, dict[str, Any]]
    outbox: int
    ledger: dict[str, dict[str, Any]]
    notices: list[dict[str, Any]]
    zoom_meetings: dict[str, list[dict[str, Any]]]
    google_events: dict[str, list[dict[str, Any]]]
    mail: list[EmailMessage]
    tiles: dict[str, dict[str, Any]]


def read_collection(client: Any, name: str) -> dict[str, dict[str, Any]]:
    return {doc.id: doc.to_dict() or {} for doc in client.collection(name).stream()}


def snapshot(firestore: Any, flo: Flo, creators: list[ChaosCreator]) -> Snapshot:
    """The sink is read first: a message then in the sink was sent by the ledger before its record was read
    (only a run that did not settle has messages still in flight between the two reads)."""
    mail = []
    for item in flo.mail.get("/messages", timeout=600).json():  # every message, raw: large after a full run
        parsed = message_from_string(item["raw"], policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        mail.append(parsed)
    return Snapshot(
        bookings=read_collection(firestore, BOOKINGS),
        cells=read_collection(firestore, CELLS),
        outbox=len(read_collection(firestore, OUTBOX)),
        ledger=read_collection(firestore, EMAILS),
        notices=list(read_collection(firestore, NOTICES).values()),
        zoom_meetings=flo.sandbox.zoom_meetings(),
        google_events=flo.sandbox.google_events(),
        mail=mail,
        tiles={c.creator.creator_id: flo.integrations(c.creator) for c in creators},
    )


def unsettled(firestore: Any, sink_count: int, last_sink_count: int) -> list[str]:
    """What is still moving; empty once retries have settled (nothing in flight, the sink quiet).

    A cancelled booking whose cleanup timer is still set is moving (the nudge sweep publishes it again); one
    whose timer was cleared while it still records a meeting or an event is not, and the Zoom and Google
    checks count what it left behind."""
    reasons = []
    if read_collection(firestore, OUTBOX):
        reasons.append("outbox not empty")
    for booking_id, doc in read_collection(firestore, BOOKINGS).items():
        if doc.get("status") == "pending_payment":
            reasons.append(f"{booking_id} pending payment")
        elif doc.get("status") == "confirmed" and (
            doc.get("link_revision") != doc.get("revision") or doc.get("link_status") == "pending"
        ):
            reasons.append(f"{booking_id} link pending")
        elif doc.get("status") == "cancelled" and doc.get("link_nudge_at") is not None:
            reasons.append(f"{booking_id} meeting and event cleanup pending")
        if doc.get("mail_due_at") is not None:
            reasons.append(f"{booking_id} mail due")
    if any(in_flight(entry, datetime.now(UTC)) for entry in read_collection(firestore, EMAILS).values()):
        reasons.append("an email is being sent")
    if sink_count != last_sink_count:
        reasons.append("mail still arriving")
    return reasons


def in_flight(entry: dict[str, Any], now: datetime) -> bool:
    """A copy someone is sending: claimed, and its claim still live. A lapsed claim's sender died mid-send (a
    SIGKILL); a copy still owed is taken over by the mail sweep (its booking is then "mail due"), one its booking
    no longer owes (a later revision came) is left as it is, and moves no more."""
    return entry.get("state") == "sending" and entry["lease_until"] > now


STUCK_FIELDS = (
    "status",
    "change",
    "revision",
    "updated_at",
    "link_status",
    "link_revision",
    "link_published_revision",
    "zoom",
    "zoom_intent",
    "zoom_failed_revision",
    "google_event",
    "link_nudge_at",
    "mail_due_at",
)
"""What a booking that did not settle is printed with: its state as the workers decide from it."""


def stuck_details(firestore: Any, reasons: list[str], log_dir: Path, lines: int = 6) -> list[str]:
    """For each booking still moving when the wait ended: its fields, its leases, and the last log lines of each
    service that name it, so a run that did not settle on a CI machine says why without its logs."""
    details = []
    for booking_id in sorted({reason.split(" ", 1)[0] for reason in reasons if " " in reason}):
        doc = firestore.collection(BOOKINGS).document(booking_id).get().to_dict()
        if doc is None:
            continue
        details.append(f"{booking_id}: " + ", ".join(f"{name}={doc.get(name)}" for name in STUCK_FIELDS))
        leases = [f"{d.id} {d.to_dict()}" for d in firestore.collection(LEASES).stream() if booking_id in d.id]
        details += [f"  lease {lease}" for lease in leases]
        for log in sorted(log_dir.glob("*.log")):
            if log.stem in ("firestore", "pubsub", "mailsink"):
                continue
            named = [line for line in log.read_text(errors="replace").splitlines() if booking_id in line]
            details += [f"  {log.stem}: {_brief(line)}" for line in named[-lines:]]
    return details


_LOG_BOILERPLATE = frozenset({"severity", "time", "service", "logger", "message", "booking_id"})


def _brief(line: str) -> str:
    """A structured log line as its time, message and own fields; any other line as it is, cut short."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line[:300]
    fields = " ".join(f"{k}={v}" for k, v in entry.items() if k not in _LOG_BOILERPLATE)
    return f"{str(entry.get('time', ''))[11:23]} {entry.get('message')} {fields}"[:300]


@dataclass
class Figures:
    counts: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)
    """invariant -> what broke it (empty list: it held)."""

    def fail(self, invariant: str, detail: str) -> None:
        self.failures.setdefault(invariant, []).append(detail)


def check(snap: Snapshot, stories: list[Story], creators: list[ChaosCreator], settled: bool) -> Figures:
    figures = Figures(failures={name: [] for name in INVARIANTS})
    if not settled:
        figures.fail("settled", "retries had not settled when the wait ended")
    made = [s for s in stories if s.booking_id]
    figures.counts.update(
        bookings_made=len(made),
        confirmed=sum(1 for s in made if s.status == "confirmed"),
        cancelled=sum(1 for s in made if s.status == "cancelled" and s.last_change == "cancelled"),
        expired=sum(1 for s in made if s.last_change == "expired"),
        races=sum(1 for s in stories if s.race),
        race_double_wins=sum(1 for s in stories if s.race_winners > 1),
        driver_notes=sum(len(s.notes) for s in stories),
        cancelled_still_recording_meeting_or_event=sum(
            1 for d in snap.bookings.values() if d["status"] == "cancelled" and (d.get("zoom") or d.get("google_event"))
        ),
    )
    _lost(snap, made, figures)
    _cells(snap, figures)
    _zoom(snap, creators, figures)
    _google(snap, creators, figures)
    _emails(snap, made, figures)
    _links_told(snap, figures)
    _connections(snap, creators, figures)
    return figures


def _lost(snap: Snapshot, made: list[Story], figures: Figures) -> None:
    """Each booking ends as its story says: confirmed at its last time, cancelled, or expired."""
    for story in made:
        doc = snap.bookings.get(str(story.booking_id))
        if doc is None:
            figures.fail("lost_bookings", f"{story.booking_id}: not in the store")
            continue
        wrong = []
        if doc["status"] != story.status:
            wrong.append(f"status {doc['status']} (reason {doc.get('cancel_reason')}), story says {story.status}")
        elif story.status == "confirmed" and story.start and doc["start"] != datetime.fromisoformat(story.start):
            wrong.append(f"start {doc['start'].isoformat()}, story says {story.start}")
        elif story.last_change == "expired" and doc.get("cancel_reason") != "payment_timeout":
            wrong.append(f"cancel reason {doc.get('cancel_reason')}, story says payment_timeout")
        if wrong:
            figures.fail("lost_bookings", f"{story.booking_id} ({story.payment}/{story.after}): " + "; ".join(wrong))
    figures.counts["lost_bookings"] = len(figures.failures["lost_bookings"])


def _cells(snap: Snapshot, figures: Figures) -> None:
    """No two live bookings of a creator overlap, and every cell names a live booking that holds it."""
    live = {i: d for i, d in snap.bookings.items() if d.get("status") in ("confirmed", "pending_payment")}
    by_creator: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for booking_id, doc in live.items():
        by_creator.setdefault(doc["creator_id"], []).append((doc["start"], doc["end"], booking_id))
    overlaps = 0
    for intervals in by_creator.values():
        intervals.sort()
        for (_, end, first), (start, _, second) in itertools.pairwise(intervals):
            if start < end:
                overlaps += 1
                figures.fail("double_booked_cells", f"{first} and {second} overlap")
    for cell_id, cell in snap.cells.items():
        holder = live.get(str(cell.get("booking_id")))
        if holder is None or cell_id not in holder.get("cells", []):
            figures.fail("double_booked_cells", f"cell {cell_id} held by {cell.get('booking_id')}, not a live holder")
    for booking_id, doc in live.items():
        for cell_id in doc.get("cells", []):
            if snap.cells.get(cell_id, {}).get("booking_id") != booking_id:
                figures.fail("double_booked_cells", f"{booking_id} lacks its cell {cell_id}")
    figures.counts["double_booked"] = overlaps
    figures.counts["bad_cells"] = len(figures.failures["double_booked_cells"]) - overlaps


def _owner(meeting: dict[str, Any], bookings: dict[str, dict[str, Any]]) -> str | None:
    """The booking a Zoom meeting was made for: by its join URL, recorded id, or the booking id in its agenda."""
    for booking_id, doc in bookings.items():
        recorded = doc.get("zoom") or {}
        if doc.get("meeting_url") == meeting.get("join_url") or str(recorded.get("meeting_id")) == str(meeting["id"]):
            return booking_id
    agenda = str(meeting.get("agenda") or "")
    return next((booking_id for booking_id in bookings if booking_id in agenda), None)


def _zoom(snap: Snapshot, creators: list[ChaosCreator], figures: Figures) -> None:
    """Exactly one live meeting per live Zoom booking, at its time; none for the others unless a notice names it."""
    excused = {str(n.get("meeting_id")) for n in snap.notices if n.get("kind") == "zoom_delete_failed"}
    emails = {c.creator.email.lower(): c for c in creators}
    per_booking: Counter[str] = Counter()
    stray = extra = wrong_time = 0
    for host, meetings in snap.zoom_meetings.items():
        if host.lower() not in emails:
            continue
        for meeting in meetings:
            owner = _owner(meeting, snap.bookings)
            doc = snap.bookings.get(owner or "")
            live_zoom = doc is not None and doc["status"] == "confirmed" and is_zoom_url(doc.get("meeting_url"))
            if not live_zoom:
                if str(meeting["id"]) not in excused:
                    stray += 1
                    status = f"{doc['status']}, link {doc.get('meeting_url')}" if doc else "no booking"
                    figures.fail("zoom_meetings", f"meeting {meeting['id']} left for {owner} ({status}), no notice")
                continue
            assert doc is not None and owner is not None
            per_booking[owner] += 1
            if (
                meeting.get("join_url") == doc.get("meeting_url")
                and _instant(meeting.get("start_time")) != doc["start"]
            ):
                wrong_time += 1
                figures.fail(
                    "zoom_meetings", f"{owner}: meeting at {meeting.get('start_time')}, booking at {doc['start']}"
                )
    live_zoom_bookings = [
        i for i, d in snap.bookings.items() if d["status"] == "confirmed" and is_zoom_url(d.get("meeting_url"))
    ]
    missing = 0
    for booking_id in live_zoom_bookings:
        if per_booking[booking_id] == 0:
            missing += 1
            figures.fail("zoom_meetings", f"{booking_id}: Zoom link but no live meeting")
        elif per_booking[booking_id] > 1:
            extra += per_booking[booking_id] - 1
            figures.fail("zoom_meetings", f"{booking_id}: {per_booking[booking_id]} live meetings")
    figures.counts.update(
        live_zoom_bookings=len(live_zoom_bookings),
        zoom_meetings_missing=missing,
        zoom_meetings_extra=extra,
        zoom_meetings_stray=stray,
        zoom_meetings_wrong_time=wrong_time,
        zoom_meetings_left_with_notice=len(excused),
    )


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _google(snap: Snapshot, creators: list[ChaosCreator], figures: Figures) -> None:
    """No event on a creator's calendar that is not the event of one of their live bookings."""
    wanted_by_creator: dict[str, set[str]] = {}
    for booking_id, doc in snap.bookings.items():
        if doc["status"] == "confirmed":
            wanted_by_creator.setdefault(doc["creator_id"], set()).add(event_id_for(booking_id))
    orphans = missing = 0
    for owner in creators:
        events = {str(e["id"]) for e in snap.google_events.get(owner.creator.email.lower(), [])}
        wanted = wanted_by_creator.get(owner.creator.creator_id, set())
        for event_id in sorted(events - wanted):
            orphans += 1
            figures.fail("orphan_google_events", f"{owner.creator.email}: event {event_id} of no live booking")
        if "google" in owner.providers:
            missing += len(wanted - events)
    figures.counts.update(orphan_google_events=orphans, google_events_missing=missing)


def _sent_key(message: EmailMessage, roles: dict[tuple[str, str], str]) -> EmailKey:
    booking_id, kind = str(message["X-Flo-Booking-Id"]), str(message["X-Flo-Email-Kind"])
    revision = -1
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            found = SEQUENCE.search(part.get_content().replace("\r\n", "\n"))
            revision = int(found.group(1)) if found else -1
    recipient = str(message["To"]).rsplit("<", 1)[-1].rstrip(">").strip().lower()
    return booking_id, kind, revision, roles.get((booking_id, recipient), recipient)


def _emails(snap: Snapshot, made: list[Story], figures: Figures) -> None:
    """Every email owed went out exactly once: in the ledger once, in the sink once; nothing twice."""
    roles: dict[tuple[str, str], str] = {}
    for booking_id, doc in snap.bookings.items():
        roles[(booking_id, str(doc["fan"]["email"]).lower())] = "fan"
    creator_emails = {c.owner.creator.creator_id: c.owner.creator.email.lower() for c in made}
    for booking_id, doc in snap.bookings.items():
        if doc["creator_id"] in creator_emails:
            roles[(booking_id, creator_emails[doc["creator_id"]])] = "creator"
    booking_mail = [m for m in snap.mail if m["X-Flo-Email-Kind"] in BOOKING_KINDS]
    sink: Counter[EmailKey] = Counter(_sent_key(m, roles) for m in booking_mail)
    ledger_sent = {_ledger_key(e) for e in snap.ledger.values() if e.get("state") == "sent"}
    owed = _owed(snap, made)
    for key in sorted(owed):
        if sink[key] != 1 or key not in ledger_sent:
            figures.fail(
                "emails_exactly_once", f"owed {key}: {sink[key]} in the sink, ledger sent: {key in ledger_sent}"
            )
    duplicates = {key: n for key, n in sink.items() if n > 1}
    for key, number in sorted(duplicates.items()):
        if key not in owed:
            figures.fail("emails_exactly_once", f"{key} sent {number} times")
    cut_short = {_ledger_key(e) for e in snap.ledger.values() if e.get("state") == "sending"}
    unrecorded = [key for key in sink if key not in ledger_sent and key not in cut_short]
    for key in sorted(unrecorded):
        if key not in owed:
            figures.fail("emails_exactly_once", f"{key} in the sink but not sent by the ledger")
    figures.counts.update(
        emails_owed=len(owed),
        emails_owed_not_sent_once=sum(1 for key in owed if sink[key] != 1 or key not in ledger_sent),
        emails_in_sink=len(snap.mail),
        other_emails_in_sink=len(snap.mail) - len(booking_mail),
        emails_duplicated=sum(n - 1 for n in duplicates.values()),
        emails_sent_by_ledger=len(ledger_sent),
        emails_whose_sender_was_killed=len(cut_short),
    )


def _ledger_key(entry: dict[str, Any]) -> EmailKey:
    return str(entry["booking_id"]), str(entry["kind"]), int(entry["revision"]), str(entry["recipient"])


def _owed(snap: Snapshot, made: list[Story]) -> set[EmailKey]:
    """What each booking's last change owes, and a link_ready when its link landed after the fan's copy went."""
    owed: set[EmailKey] = set()
    for story in made:
        stored = snap.bookings.get(str(story.booking_id))
        if stored is None or story.last_change is None:
            continue
        revision = int(stored["revision"])
        owed |= {(str(story.booking_id), kind, revision, role) for kind, role in OWED_BY_CHANGE[story.last_change]}
        fan_copy = next((e for e in snap.ledger.values() if _is_fan_copy(e, str(story.booking_id), revision)), None)
        ready = stored["status"] == "confirmed" and stored.get("link_status") == "ready"
        if ready and fan_copy is not None and not fan_copy.get("link_included"):
            owed.add((str(story.booking_id), "link_ready", revision, "fan"))
    return owed


def _links_told(snap: Snapshot, figures: Figures) -> None:
    """A live booking's link is the one in the last email its fan got for this revision: a link never
    changes behind the fan's back (a redelivery must not swap Meet for Zoom without a message)."""
    last_to_fan: dict[tuple[str, int], EmailMessage] = {}
    for message in snap.mail:
        booking_id = str(message["X-Flo-Booking-Id"])
        doc = snap.bookings.get(booking_id)
        kind = str(message["X-Flo-Email-Kind"])
        if doc is None or kind not in ("confirmation", "rescheduled", "link_ready"):
            continue
        if str(doc["fan"]["email"]).lower() in str(message["To"]).lower():
            revision = _sent_key(message, {})[2]
            last_to_fan[(booking_id, revision)] = message
    untold = 0
    for booking_id, doc in snap.bookings.items():
        url = doc.get("meeting_url")
        if doc["status"] != "confirmed" or not url:
            continue
        last = last_to_fan.get((booking_id, int(doc["revision"])))
        if last is None or not any(url in _text(part) for part in last.walk()):
            untold += 1
            told = sorted({link for part in (last.walk() if last else []) for link in LINK.findall(_text(part))})
            kind = last["X-Flo-Email-Kind"] if last else "no email"
            figures.fail(
                "fan_told_current_link", f"{booking_id}: booking has {url}; fan's last email ({kind}) has {told}"
            )
    figures.counts["links_not_told_to_fan"] = untold


def _text(part: EmailMessage) -> str:
    if part.is_multipart() or part.get_content_maintype() != "text":
        return ""
    return str(part.get_content())


def _is_fan_copy(entry: dict[str, Any], booking_id: str, revision: int) -> bool:
    return (
        entry.get("booking_id") == booking_id
        and entry.get("revision") == revision
        and entry.get("recipient") == "fan"
        and entry.get("kind") in ("confirmation", "rescheduled")
        and entry.get("state") == "sent"
    )


def _connections(snap: Snapshot, creators: list[ChaosCreator], figures: Figures) -> None:
    """Every grant revoked mid-run was reconnected, so no tile may say Reconnect required at the end."""
    broken = 0
    for owner in creators:
        for provider in owner.providers:
            status = snap.tiles[owner.creator.creator_id][provider]["status"]
            if status == "reconnect_required":
                broken += 1
                figures.fail("false_reconnect_required", f"{owner.creator.email} {provider}: {status}")
    figures.counts["false_reconnect_required"] = broken
