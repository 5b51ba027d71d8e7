"""Heal after a Zoom reconnect: what broke while Zoom was disconnected is put right once it is back.

The same Zoom account: the deletes that failed meanwhile are tried again (their notices say so once done).
Another account: nothing is deleted there (the old meetings are not in it), and the creator is told which
sessions' meetings stay in the earlier account; Flo forgets those meetings so it never acts on them again.
Either way, upcoming confirmed bookings that got no link while Zoom was broken are reopened, so the meetings
worker makes a meeting (and patches the Google event) and notify sends link_ready to the fan and the creator.
Bookings that have a link keep it, as the product page promises.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from shared.bookings.notices import ZOOM_DELETE_RETRIED, ZOOM_OTHER_ACCOUNT, Notices
from shared.bookings.repository import BookingRepository, each_of_creator
from shared.bookings.service import BookingService
from shared.clock import Clock
from shared.connections.port import Connections, NotConnectedError
from shared.connections.repository import Replaced
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.ports import VideoProvider

log = logging.getLogger(__name__)


class ZoomHealing:
    def __init__(
        self,
        bookings: BookingRepository,
        service: BookingService,
        notices: Notices,
        connections: Connections,
        zoom: VideoProvider,
        clock: Clock,
    ) -> None:
        self._bookings = bookings
        self._service = service
        self._notices = notices
        self._connections = connections
        self._zoom = zoom
        self._clock = clock

    def after_connect(self, creator_id: str, replaced: Replaced) -> None:
        if replaced == "same_account":
            self._retry_failed_deletes(creator_id)
        elif replaced == "other_account":
            self._leave_in_old_account(creator_id)
        self._reopen_missing_links(creator_id)

    def _retry_failed_deletes(self, creator_id: str) -> None:
        for notice in self._notices.open_of_kind(creator_id, "zoom_delete_failed"):
            if notice.resolved or notice.meeting_id is None:
                continue
            meeting_id = int(notice.meeting_id)

            def delete(token: str, meeting_id: int = meeting_id) -> None:
                self._zoom.delete_meeting(token, meeting_id)

            try:
                self._connections.with_token(creator_id, "zoom", delete)
            except ProviderError as exc:
                if exc.kind is not ErrorKind.NOT_FOUND:  # gone already is done
                    log.warning("leftover Zoom meeting still not deleted", extra={"kind": exc.kind.value})
                    continue
            except NotConnectedError:
                return
            self._notices.resolve(notice.notice_id, ZOOM_DELETE_RETRIED)

    def _leave_in_old_account(self, creator_id: str) -> None:
        for booking_id, booking in each_of_creator(self._bookings, creator_id, upcoming=True, now=self._clock.now()):
            if booking.zoom is None:
                continue
            self._notices.zoom_meeting_kept(creator_id, booking_id, booking.zoom.meeting_id, ZOOM_OTHER_ACCOUNT)
            self._bookings.update_if(booking_id, booking, replace(booking, zoom=None, zoom_intent=None))
        for notice in self._notices.open_of_kind(creator_id, "zoom_delete_failed"):
            if not notice.resolved:
                self._notices.resolve(notice.notice_id, f"{notice.message}. It stays in your earlier Zoom account.")

    def _reopen_missing_links(self, creator_id: str) -> None:
        for booking_id, booking in each_of_creator(self._bookings, creator_id, upcoming=True, now=self._clock.now()):
            if self._service.retry_link(booking_id, booking):
                log.info("link owed again after the Zoom reconnect", extra={"booking_id": booking_id})
