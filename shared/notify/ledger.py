"""Exactly-once email claims: one document per (booking, kind, revision, recipient) in ``emails``.

Pub/Sub redelivers, the sweep and the push handler overlap, and two reminder runs can see the same
booking: whoever creates the claim sends, everyone else stands back. A claim whose sender died is
taken over once its lease runs out. Only a message SMTP accepted is ever marked sent; one that can
never go (it cannot be rendered, or the server refused it for good) is marked failed, with why, and
never tried again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from enum import StrEnum

from shared.clock import Clock
from shared.mail import MailSender, MailSendError
from shared.mail.port import SMTP_EXCHANGE_STEPS, SMTP_TIMEOUT_SECONDS
from shared.store.port import Conflict, Doc, DocStore, Txn, create, delete, put, update

EMAILS = "emails"
RECORD_RETENTION = timedelta(days=400)
"""Firestore's TTL deletes a record this long after its first attempt: past the longest booking horizon plus
its reminders, so no redelivery or sweep can still need it to tell that the email went."""
LEASE = timedelta(seconds=SMTP_TIMEOUT_SECONDS * SMTP_EXCHANGE_STEPS + 60)
"""Outlasts the slowest send, so a live sender is never overtaken: every step of the exchange at its timeout
(12 steps x 20 s = 240 s) plus 60 s for rendering and the store = 300 s."""


class ClaimState(StrEnum):
    """Where a claim stands: only SENDING is ever taken over (once its lease has run out)."""

    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    """It can never be sent (a render error, a permanent SMTP refusal): recorded with the reason."""


class Delivery(StrEnum):
    """What became of one message: all but IN_FLIGHT mean nothing more is owed."""

    SENT = "sent"
    ALREADY_SENT = "already_sent"
    IN_FLIGHT = "in_flight"
    FAILED = "failed"
    """It can never be sent (now or earlier): the record says why."""


_FINAL = {ClaimState.SENT: Delivery.ALREADY_SENT, ClaimState.FAILED: Delivery.FAILED}
"""A claim in one of these states is settled for good: what a later delivery of the same message answers."""


@dataclass(frozen=True)
class Delivered:
    """What one deliver learned: what became of the message and whether the copy that went (now or earlier)
    carried the link, so the caller knows whether a link_ready is owed without reading the claim again."""

    delivery: Delivery
    link_included: bool = False

    @property
    def went_without_link(self) -> bool:
        return self.delivery in (Delivery.SENT, Delivery.ALREADY_SENT) and not self.link_included


@dataclass(frozen=True)
class EmailKey:
    """Names one message; ``kind`` is the reminder's own name (reminder_24h) so each reminder goes once."""

    booking_id: str
    kind: str
    revision: int
    recipient: str

    @property
    def doc_id(self) -> str:
        return f"{self.booking_id}:{self.kind}:{self.revision}:{self.recipient}"


def was_sent(store: DocStore, key: EmailKey) -> bool:
    """Whether the message went out, for those who only watch the ledger (the test booking) and send nothing."""
    return (store.get(EMAILS, key.doc_id) or {}).get("state") == ClaimState.SENT


class EmailLedger:
    def __init__(self, store: DocStore, clock: Clock, sender: MailSender) -> None:
        self._store = store
        self._clock = clock
        self._sender = sender

    def record(self, key: EmailKey) -> Doc | None:
        """The claim as stored, e.g. to say why a message can never be sent."""
        return self._store.get(EMAILS, key.doc_id)

    def deliver(self, key: EmailKey, build: Callable[[], EmailMessage], *, link_included: bool) -> Delivered:
        """Send the message unless it was sent, failed for good, or someone else is sending it.

        ``build`` runs only once the claim is ours, so duplicates cost no rendering. A message that
        cannot be built, or that SMTP refuses permanently, is recorded as failed and answered FAILED.
        Any other failure (a transient MailSendError included) releases the claim and propagates, so a
        retry can send it.
        """
        now = self._clock.now()
        claim: Doc = {
            "state": ClaimState.SENDING.value,
            "owner": uuid.uuid4().hex,
            "lease_until": now + LEASE,
            "created_at": now,
            "expires_at": now + RECORD_RETENTION,
            "booking_id": key.booking_id,
            "kind": key.kind,
            "revision": key.revision,
            "recipient": key.recipient,
            "link_included": link_included,
        }
        standing = self._claim(key, claim)
        if standing is not None:
            return standing
        try:
            message = build()
        except Exception as exc:  # rendering is a function of the booking: it would fail again
            return self._failed(key, claim, "render", f"{type(exc).__name__}: {exc}")
        try:
            self._sender.send(message)
        except MailSendError as exc:
            if not exc.transient:
                return self._failed(key, claim, "send", str(exc))
            self._release(key, claim["owner"])
            raise
        except BaseException:
            self._release(key, claim["owner"])
            raise
        self._store.commit(
            [put(EMAILS, key.doc_id, {**claim, "state": ClaimState.SENT.value, "sent_at": self._clock.now()})]
        )
        return Delivered(Delivery.SENT, link_included)

    def _failed(self, key: EmailKey, claim: Doc, stage: str, reason: str) -> Delivered:
        failed = {
            **claim,
            "state": ClaimState.FAILED.value,
            "failed_at": self._clock.now(),
            "failed_in": stage,
            "reason": reason,
        }
        self._store.commit([put(EMAILS, key.doc_id, failed)])
        return Delivered(Delivery.FAILED)

    def _claim(self, key: EmailKey, claim: Doc) -> Delivered | None:
        """None when the claim is now ours; otherwise why we must not send.

        A claim that exists is found by one plain read, never by a create that fails (on the emulator each
        failed create is a logged exception): sent and failed are final and a live claim is someone else's.
        Only taking over an expired claim (or one released meanwhile) needs the transaction.
        """
        standing = self._store.get(EMAILS, key.doc_id)
        if standing is None:
            try:
                self._store.commit([create(EMAILS, key.doc_id, claim)])
                return None
            except Conflict:  # another sender created it since our read: its claim is live
                return Delivered(Delivery.IN_FLIGHT)
        answer = _standing(standing, claim)
        if answer is not None:
            return answer

        def take_over(txn: Txn) -> Delivered | None:
            current = txn.get(EMAILS, key.doc_id)
            if current is None:  # released between our read and this one
                txn.write(create(EMAILS, key.doc_id, claim))
                return None
            answer = _standing(current, claim)
            if answer is None:
                taken = {k: claim[k] for k in ("owner", "lease_until", "link_included")}
                txn.write(update(EMAILS, key.doc_id, taken))
            return answer

        try:
            return self._store.transaction(take_over)
        except Conflict:  # another sender re-created it first
            return Delivered(Delivery.IN_FLIGHT)

    def _release(self, key: EmailKey, owner: str) -> None:
        """Delete our claim, but never one a later sender took over or already marked sent."""

        def run(txn: Txn) -> None:
            current = txn.get(EMAILS, key.doc_id)
            if current is not None and current["state"] == ClaimState.SENDING and current["owner"] == owner:
                txn.write(delete(EMAILS, key.doc_id))

        self._store.transaction(run)


def _standing(current: Doc, claim: Doc) -> Delivered | None:
    """What a claim already stored answers for ours: settled for good, or another sender's live claim; None
    when its lease ran out before ours began, so it is ours to take over."""
    if current["state"] in _FINAL:
        return Delivered(_FINAL[current["state"]], bool(current.get("link_included")))
    if current["lease_until"] > claim["created_at"]:
        return Delivered(Delivery.IN_FLIGHT)
    return None
