import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from shared.providers.zoom_webhook import WebhookError, url_validation_response, verify_signature

SECRET = "webhook-secret-token"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BODY = b'{"event":"app_deauthorized","payload":{"user_id":"u1"}}'


def sign(timestamp: str, body: bytes, secret: str = SECRET) -> str:
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def ts(at: datetime) -> str:
    return str(int(at.timestamp()))


def test_valid_signature_passes() -> None:
    verify_signature(SECRET, ts(NOW), sign(ts(NOW), BODY), BODY, NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "reason"),
    [
        (ts(NOW), sign(ts(NOW), BODY, "other-secret"), BODY, "does not match"),
        (ts(NOW), sign(ts(NOW), BODY), BODY + b" ", "does not match"),
        (ts(NOW), sign(ts(NOW), BODY)[3:], BODY, "does not match"),
        (None, sign(ts(NOW), BODY), BODY, "missing"),
        (ts(NOW), None, BODY, "missing"),
        ("", sign(ts(NOW), BODY), BODY, "missing"),
        ("12ab", sign("12ab", BODY), BODY, "whole number"),
        (str(int(NOW.timestamp() * 1000)), sign(str(int(NOW.timestamp() * 1000)), BODY), BODY, "5 minutes"),
        # Absurd times are refused like any stale one, never an overflow (float(10**400) raises) or a 500.
        ("9" * 400, sign("9" * 400, BODY), BODY, "whole number"),
        ("9" * 20, sign("9" * 20, BODY), BODY, "5 minutes"),
        ("-" + ts(NOW), sign("-" + ts(NOW), BODY), BODY, "whole number"),
        (" " + ts(NOW), sign(" " + ts(NOW), BODY), BODY, "whole number"),
        ("1_" + ts(NOW)[2:], sign("1_" + ts(NOW)[2:], BODY), BODY, "whole number"),
        ("1e9", sign("1e9", BODY), BODY, "whole number"),
        ("0", sign("0", BODY), BODY, "5 minutes"),
    ],
)
def test_refusals(timestamp: str | None, signature: str | None, body: bytes, reason: str) -> None:
    with pytest.raises(WebhookError, match=reason):
        verify_signature(SECRET, timestamp, signature, body, NOW)


def test_stale_and_future_timestamps_are_refused_at_five_minutes() -> None:
    old = NOW - timedelta(minutes=5, seconds=1)
    with pytest.raises(WebhookError, match="5 minutes"):
        verify_signature(SECRET, ts(old), sign(ts(old), BODY), BODY, NOW)
    future = NOW + timedelta(minutes=6)
    with pytest.raises(WebhookError, match="5 minutes"):
        verify_signature(SECRET, ts(future), sign(ts(future), BODY), BODY, NOW)
    edge = NOW - timedelta(minutes=5)
    verify_signature(SECRET, ts(edge), sign(ts(edge), BODY), BODY, NOW)


def test_missing_secret_is_refused_not_accepted() -> None:
    with pytest.raises(WebhookError, match="not configured"):
        verify_signature("", ts(NOW), sign(ts(NOW), BODY, ""), BODY, NOW)


def test_error_messages_do_not_echo_the_signature() -> None:
    bad = "v0=" + "ab" * 32
    with pytest.raises(WebhookError) as caught:
        verify_signature(SECRET, ts(NOW), bad, BODY, NOW)
    assert bad not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_url_validation_response() -> None:
    answer = url_validation_response(SECRET, "qgg8vlvZRS6UYooatFL8Aw")
    expected = hmac.new(SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert answer == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
