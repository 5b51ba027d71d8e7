import json
from datetime import UTC, datetime

import pytest

from shared.providers.errors import (
    DEFAULT_RETRY_AFTER,
    ErrorKind,
    ProviderError,
    classify_google,
    classify_zoom,
    retry_once_after_refresh,
    transport_failure,
)

NOW = datetime(2025, 3, 10, 22, 0, 0, tzinfo=UTC)


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def test_zoom_invalid_access_token_asks_for_a_refresh() -> None:
    error = classify_zoom(401, {}, body({"code": 124, "message": "Invalid access token."}), NOW)
    assert error.kind is ErrorKind.UNAUTHORIZED
    assert error.status == 401


@pytest.mark.parametrize(
    "payload",
    [{"reason": "Invalid Token!", "error": "invalid_grant"}, {"reason": "Invalid Token!", "error": "invalid_request"}],
)
def test_zoom_refused_refresh_is_revoked(payload: dict[str, str]) -> None:
    assert classify_zoom(400, {}, body(payload), NOW).kind is ErrorKind.REVOKED


def test_zoom_bad_client_is_our_bug_not_the_creators() -> None:
    payload = {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
    assert classify_zoom(401, {}, body(payload), NOW).kind is ErrorKind.BAD_REQUEST


def test_zoom_missing_meeting_is_not_found_but_missing_user_is_not() -> None:
    gone = classify_zoom(404, {}, body({"code": 3001, "message": "Meeting does not exist: 1."}), NOW)
    assert gone.kind is ErrorKind.NOT_FOUND
    user = classify_zoom(404, {}, body({"code": 1001, "message": "User does not exist: x."}), NOW)
    assert user.kind is ErrorKind.BAD_REQUEST


def test_zoom_daily_limit_waits_until_utc_midnight_even_without_headers() -> None:
    message = "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests."
    error = classify_zoom(429, {"X-RateLimit-Limit": "6000"}, body({"code": 429, "message": message}), NOW)
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.retry_after == 2 * 3600


def test_zoom_daily_limit_header_alone_is_enough() -> None:
    error = classify_zoom(429, {"x-ratelimit-type": "Daily-limit"}, b"", NOW)
    assert error.retry_after == 2 * 3600


def test_zoom_per_second_limit_uses_retry_after_seconds_or_default() -> None:
    assert classify_zoom(429, {"Retry-After": "7"}, b"{}", NOW).retry_after == 7
    assert classify_zoom(429, {}, b"{}", NOW).retry_after == DEFAULT_RETRY_AFTER


def test_retry_after_as_http_date_and_iso_instant() -> None:
    http_date = classify_google(429, {"retry-after": "Mon, 10 Mar 2025 22:01:00 GMT"}, b"", NOW)
    assert http_date.retry_after == 60
    iso = classify_zoom(429, {"Retry-After": "2025-03-10T22:00:30Z"}, b"", NOW)
    assert iso.retry_after == 30


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(status: int) -> None:
    assert classify_zoom(status, {}, b"<html>", NOW).kind is ErrorKind.TRANSIENT
    assert classify_google(status, {}, b"", NOW).kind is ErrorKind.TRANSIENT


def test_google_invalid_grant_is_revoked() -> None:
    payload = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    error = classify_google(400, {}, body(payload), NOW)
    assert error.kind is ErrorKind.REVOKED
    assert "expired or revoked" in error.detail


@pytest.mark.parametrize(
    ("status", "kind"), [(404, ErrorKind.NOT_FOUND), (410, ErrorKind.NOT_FOUND), (409, ErrorKind.CONFLICT)]
)
def test_google_api_statuses(status: int, kind: ErrorKind) -> None:
    payload = {"error": {"code": status, "message": "x", "errors": [{"reason": "x"}]}}
    assert classify_google(status, {}, body(payload), NOW).kind is kind


def test_google_403_rate_limit_reasons_are_rate_limited() -> None:
    payload = {"error": {"code": 403, "message": "Rate Limit Exceeded", "errors": [{"reason": "rateLimitExceeded"}]}}
    error = classify_google(403, {}, body(payload), NOW)
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.retry_after == DEFAULT_RETRY_AFTER


@pytest.mark.parametrize("status", [403, 429])
def test_google_calendar_usage_limits_are_their_own_kind_and_keep_a_retry_after(status: int) -> None:
    error = {"code": status, "message": "Calendar usage limits exceeded.", "errors": [{"reason": "quotaExceeded"}]}
    body = json.dumps({"error": error}).encode()
    assert classify_google(status, {}, body, NOW).kind is ErrorKind.USAGE_LIMITED
    assert classify_google(status, {}, body, NOW).retry_after is None  # no header: the caller's own pause
    assert classify_google(status, {"retry-after": "120"}, body, NOW).retry_after == 120
    assert not ErrorKind.USAGE_LIMITED.retryable  # no quick retries: they would only hammer


def test_google_403_missing_scope_needs_reconnect_and_other_403_is_bad_request() -> None:
    scope = {"error": {"code": 403, "errors": [{"reason": "insufficientPermissions"}]}}
    assert classify_google(403, {}, body(scope), NOW).kind is ErrorKind.REVOKED
    other = {"error": {"code": 403, "errors": [{"reason": "forbidden"}]}}
    assert classify_google(403, {}, body(other), NOW).kind is ErrorKind.BAD_REQUEST


def test_google_401_asks_for_refresh_and_other_4xx_is_bad_request() -> None:
    assert classify_google(401, {}, b"", NOW).kind is ErrorKind.UNAUTHORIZED
    assert classify_google(400, {}, b"not json", NOW).kind is ErrorKind.BAD_REQUEST


def test_detail_never_carries_a_token() -> None:
    token = "ya29.a0AfH6SMBx3kLqZ9vTnR8pQwErTyUiOpAsDfGhJkLzXcVbNm"
    payload = {"error": "invalid_grant", "error_description": f"bad token {token}"}
    error = classify_google(400, {}, body(payload), NOW)
    for text in (error.detail, str(error), repr(error)):
        assert token not in text
        assert "[redacted]" in text or "redacted" in text


def test_transport_failure_keeps_only_the_type() -> None:
    error = transport_failure("zoom", ConnectionError("connect to https://x/?token=abc failed"))
    assert error.kind is ErrorKind.TRANSIENT
    assert "abc" not in str(error)
    assert ErrorKind.TRANSIENT.retryable and not ErrorKind.REVOKED.retryable


def unauthorized() -> ProviderError:
    return ProviderError(ErrorKind.UNAUTHORIZED, "zoom", 401, None, "code 124")


def test_retry_once_after_refresh_uses_the_fresh_token() -> None:
    seen: list[str] = []

    def call(token: str) -> str:
        seen.append(token)
        if token == "old":
            raise unauthorized()
        return "ok"

    assert retry_once_after_refresh(call, "old", lambda: "new") == "ok"
    assert seen == ["old", "new"]


def test_second_refusal_after_refresh_is_revoked() -> None:
    def call(token: str) -> str:
        raise unauthorized()

    with pytest.raises(ProviderError) as caught:
        retry_once_after_refresh(call, "old", lambda: "new")
    assert caught.value.kind is ErrorKind.REVOKED


def test_other_errors_pass_through_without_refreshing() -> None:
    refreshed: list[bool] = []

    def call(token: str) -> str:
        raise ProviderError(ErrorKind.TRANSIENT, "google", 503)

    def refresh() -> str:
        refreshed.append(True)
        return "new"

    with pytest.raises(ProviderError) as caught:
        retry_once_after_refresh(call, "old", refresh)
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert refreshed == []
