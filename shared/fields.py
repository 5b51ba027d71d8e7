"""Field types for request models: every field a caller sends is bounded, and checked the one way the
emails, the calendar and Firestore need it to be, so nothing accepted at the door can fail later.

Each type carries its JSON schema (for the OpenAPI document) next to the check that enforces it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AnyUrl,
    AwareDatetime,
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from shared.availability import known_timezones
from shared.store.ids import is_storable_id

_LINE_BREAKING = {"Cc", "Cs", "Zl", "Zp"}
"""Control characters (CR, LF, NUL, ...), lone surrogates and line/paragraph separators: they break email
headers and ICS lines."""
_CONTROL_CLASS = r"\u0000-\u001f\u007f-\u009f\u2028\u2029"
PLAIN_TEXT_PATTERN = rf"^[^{_CONTROL_CLASS}]*[^\s{_CONTROL_CLASS}][^{_CONTROL_CLASS}]*$"
"""The same rule as _plain_text, as a JSON schema pattern: no control character, at least one visible one.
(Lone surrogates need no place in it: no JSON parser of ours accepts them in a body.)"""

TIMEZONE_COMPONENT = "Timezone"
SCHEMA_COMPONENTS: dict[str, dict[str, Any]] = {
    TIMEZONE_COMPONENT: {
        "type": "string",
        "description": "An IANA timezone name, such as Europe/London.",
        "enum": sorted(known_timezones()),
    }
}
"""Schemas that request models refer to by $ref rather than repeat (the zone list is long)."""


def _plain_text(value: str) -> str:
    bad = next((c for c in value if unicodedata.category(c) in _LINE_BREAKING), None)
    if bad is not None:
        raise ValueError(f"must not contain control characters or line breaks (found U+{ord(bad):04X})")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


PlainText = Annotated[
    str, Field(min_length=1, json_schema_extra={"pattern": PLAIN_TEXT_PATTERN}), AfterValidator(_plain_text)
]
"""One line of text a person typed: no control characters, not blank. Give it a length:
`Annotated[PlainText, Field(max_length=200)]`."""


def _timezone(value: str) -> str:
    if value not in known_timezones():
        raise ValueError(f"unknown timezone {value!r} (use an IANA name like 'Europe/London')")
    return value


Timezone = Annotated[
    str,
    AfterValidator(_timezone),
    WithJsonSchema({"allOf": [{"$ref": f"#/components/schemas/{TIMEZONE_COMPONENT}"}]}),
]

MAX_EMAIL_LENGTH = 254


def _email(value: str) -> str:
    """email-validator's syntax check (no DNS); internationalized addresses (zoë@…) are valid."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


Email = Annotated[
    str,
    Field(min_length=3, max_length=MAX_EMAIL_LENGTH, json_schema_extra={"format": "idn-email"}),
    AfterValidator(_email),
]


def _doc_id(value: str) -> str:
    if not is_storable_id(value):
        raise ValueError("is not a valid id")
    return value


MAX_ID_LENGTH = 128
DocId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[A-Za-z0-9_-]+$"),
    AfterValidator(_doc_id),
]
"""An id the caller got from us (offer, booking): ours are always plain [A-Za-z0-9_-]."""


def _integral(value: object) -> object:
    """JSON Schema counts 30.0 as an integer, so it is one here too; "30" and true stay refused (strict models)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_integral)]


def _bookable_year(value: datetime) -> datetime:
    """A start near year 1 or 9999 would overflow date arithmetic (a 500); no slot is ever that far off."""
    if not 1971 <= value.year <= 9998:
        raise ValueError("must be a time between the years 1971 and 9998")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_bookable_year)]
"""An RFC 3339 time with an offset."""


MAX_LINK_LENGTH = 2048
HTTPS_LINK_PATTERN = rf"^https://[^\s{_CONTROL_CLASS}/?#@]+([/?#][^\s{_CONTROL_CLASS}]*)?$"
"""An https URL with a host and no user name or password, on one line with no spaces (it goes into the ICS,
the emails and the Google event as it is)."""
_URLS = TypeAdapter(AnyUrl)


def _https_link(value: str) -> str:
    if not re.fullmatch(HTTPS_LINK_PATTERN, value):
        raise ValueError("must be an https URL with a host, no spaces and no user name or password")
    try:
        parsed = _URLS.validate_python(value)  # an https URL parses only with a host ("empty host" otherwise)
    except ValidationError:
        raise ValueError("is not a URL a browser can open") from None
    return str(parsed)


HttpsLink = Annotated[
    str,
    Field(min_length=9, max_length=MAX_LINK_LENGTH, json_schema_extra={"pattern": HTTPS_LINK_PATTERN}),
    AfterValidator(_https_link),
]
"""A join link a creator gives by hand: any https URL (pydantic's URL parser has the last word)."""
