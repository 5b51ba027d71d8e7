"""The Google write pauses on the Firestore emulator: the tick's one query finds the pauses that have ended and
are not caught up (a caught-up one's cleared `until` is not matched), and marking one caught up is refused once
a new pause was set meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.meetings.google_pause import GOOGLE_PAUSES, GOOGLE_WRITE_PAUSE, GoogleWritePause
from shared.store.firestore import FirestoreDocStore

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_only_pauses_ended_and_not_caught_up_are_found_and_a_new_pause_is_not_marked(
    firestore_store: FirestoreDocStore,
) -> None:
    pauses = GoogleWritePause(firestore_store)
    for creator_id in ("ended", "caught-up", "renewed"):
        pauses.pause(creator_id, NOW, None)
    pauses.pause("running", NOW + GOOGLE_WRITE_PAUSE, None)
    after = NOW + GOOGLE_WRITE_PAUSE + timedelta(minutes=1)
    ended = {p.creator_id: p for p in pauses.ended_by(after, 2)}  # two to a page: the paging is read too
    assert pauses.caught_up(ended["caught-up"], after)
    renewed_until = pauses.pause("renewed", after, 60)  # Google refused again before the tick marked it

    assert not pauses.caught_up(ended["renewed"], after)
    assert sorted(p.creator_id for p in pauses.ended_by(after, 2)) == ["ended"]
    assert sorted(p.creator_id for p in pauses.ended_by(renewed_until, 2)) == ["ended", "renewed"]
    renewed = firestore_store.get(GOOGLE_PAUSES, "renewed")
    assert renewed is not None and (renewed["since"], renewed["until"]) == (NOW, renewed_until)
    caught_up = firestore_store.get(GOOGLE_PAUSES, "caught-up")
    assert caught_up is not None and (caught_up["until"], caught_up["caught_up_at"]) == (None, after)
    assert pauses.paused_until("caught-up", after) is None
