"""The creator's `connection_broken` email: which integration broke, why in plain words, the upcoming sessions
it affects, and a button to the Integrations page. Not about one booking, so it has its own renderer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from shared.mail.render import _environment, _format_span

KIND = "connection_broken"
INTEGRATIONS_PATH = "/dashboard/settings/integrations"
PROVIDER_NAMES = {"zoom": "Zoom", "google": "Google Calendar"}
WHY = {
    "refresh_refused": "{name} no longer accepts Flo's sign-in: the access expired or was withdrawn.",
    "access_revoked": "{name} refused Flo's access: it was removed in your {name} account.",
    "app_deauthorized": "Flo was removed from the apps in your {name} account.",
}


@dataclass(frozen=True)
class AffectedSession:
    title: str
    fan_name: str
    start: datetime
    end: datetime
    effect: str
    """What the break means for it, in plain words."""


def render_connection_broken(
    *,
    provider: str,
    reason: str,
    creator_name: str,
    creator_email: str,
    timezone: str,
    sessions: list[AffectedSession],
    mail_from: str,
    base_url: str,
) -> EmailMessage:
    name = PROVIDER_NAMES[provider]
    zone = ZoneInfo(timezone)
    context = {
        "name": creator_name,
        "integration": name,
        "why": WHY.get(reason, "{name} stopped working for Flo.").format(name=name),
        "sessions": [(s, _format_span(s.start.astimezone(zone), s.end.astimezone(zone), timezone)) for s in sessions],
        "integrations_url": urljoin(base_url, INTEGRATIONS_PATH),
    }
    environment = _environment()
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = Address(creator_name, addr_spec=creator_email)
    message["Subject"] = f"Reconnect {name}: Flo cannot reach it"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=parseaddr(mail_from)[1].rpartition("@")[2] or "flo.bookings")
    message["X-Flo-Booking-Id"] = ""
    message["X-Flo-Email-Kind"] = KIND
    message.set_content(environment.get_template(f"{KIND}.txt.j2").render(context), cte="quoted-printable")
    message.add_alternative(
        environment.get_template(f"{KIND}.html.j2").render(context), subtype="html", cte="quoted-printable"
    )
    return message
