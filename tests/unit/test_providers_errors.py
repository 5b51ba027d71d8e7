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


def outcome(error: ProviderError) -> tuple[object, ...]:
    return (error.kind, error.provider, error.status, error.retry_after, error.detail)


ONE_MINUTE_LATER = {"Retry-After": "Mon, 10 Mar 2025 22:01:00 GMT"}


@pytest.mark.parametrize(
    ("status", "headers", "payload", "expected"),
    [
        (400, {}, {"error": "invalid_grant"}, (ErrorKind.REVOKED, 400, None, "invalid_grant: ")),
        (
            400,
            {},
            {"error": "invalid_grant", "reason": "expired"},
            (ErrorKind.REVOKED, 400, None, "invalid_grant: expired"),
        ),
        (
            401,
            {},
            {"error": "invalid_client", "reason": "bad"},
            (ErrorKind.BAD_REQUEST, 401, None, "invalid_client: bad"),
        ),
        (
            404,
            {},
            {"code": 3001, "message": "Meeting does not exist: 1."},
            (ErrorKind.NOT_FOUND, 404, None, "code 3001: Meeting does not exist: 1."),
        ),
        (
            429,
            {},
            {"code": 429, "message": "daily limit"},
            (ErrorKind.RATE_LIMITED, 429, 2 * 3600, "code 429: daily limit"),
        ),
        (429, {"Retry-After": "0"}, {"code": 429}, (ErrorKind.RATE_LIMITED, 429, 0, "code 429: ")),
        (503, ONE_MINUTE_LATER, None, (ErrorKind.TRANSIENT, 503, 60, "")),
        (
            401,
            {},
            {"code": 124, "message": "Invalid access token."},
            (ErrorKind.UNAUTHORIZED, 401, None, "code 124: Invalid access token."),
        ),
        (400, {}, ["not", "an", "object"], (ErrorKind.BAD_REQUEST, 400, None, "")),
    ],
)
def test_zoom_classification_keeps_provider_status_wait_and_detail(
    status: int, headers: dict[str, str], payload: object, expected: tuple[object, ...]
) -> None:
    kind, expected_status, wait, detail = expected
    raw = b"" if payload is None else body(payload)
    assert outcome(classify_zoom(status, headers, raw, NOW)) == (kind, "zoom", expected_status, wait, detail)


def google_api_error(status: int, reason: str) -> dict[str, object]:
    return {"error": {"code": status, "status": "S", "message": "m", "errors": [{"reason": reason}]}}


@pytest.mark.parametrize(
    ("status", "headers", "payload", "expected"),
    [
        (
            400,
            {},
            {"error": "invalid_token", "error_description": "expired"},
            (ErrorKind.REVOKED, 400, None, "invalid_token: [redacted]"),  # what follows "token:" is never logged
        ),
        (401, {}, {"error": "invalid_client"}, (ErrorKind.BAD_REQUEST, 401, None, "invalid_client: ")),
        (401, {}, None, (ErrorKind.UNAUTHORIZED, 401, None, ": ")),
        (404, {}, {"error": {"code": 404}}, (ErrorKind.NOT_FOUND, 404, None, " []: ")),
        (410, {}, google_api_error(410, "deleted"), (ErrorKind.NOT_FOUND, 410, None, "S ['deleted']: m")),
        (409, {}, google_api_error(409, "duplicate"), (ErrorKind.CONFLICT, 409, None, "S ['duplicate']: m")),
        (
            403,
            ONE_MINUTE_LATER,
            google_api_error(403, "quotaExceeded"),
            (ErrorKind.USAGE_LIMITED, 403, 60, "S ['quotaExceeded']: m"),
        ),
        (
            403,
            ONE_MINUTE_LATER,
            google_api_error(403, "userRateLimitExceeded"),
            (ErrorKind.RATE_LIMITED, 403, 60, "S ['userRateLimitExceeded']: m"),
        ),
        (
            403,
            {},
            google_api_error(403, "insufficientPermissions"),
            (ErrorKind.REVOKED, 403, None, "S ['insufficientPermissions']: m"),
        ),
        (429, {"retry-after": "5"}, None, (ErrorKind.RATE_LIMITED, 429, 5, ": ")),
        (500, {"retry-after": "2025-03-10T21:00:00Z"}, None, (ErrorKind.TRANSIENT, 500, 0, ": ")),
        (502, {"retry-after": "2025-03-10T22:00:30"}, None, (ErrorKind.TRANSIENT, 502, 30, ": ")),
        (400, {}, {"error": {"code": 400, "errors": ["not an object"]}}, (ErrorKind.BAD_REQUEST, 400, None, " []: ")),
    ],
)
def test_google_classification_keeps_provider_status_wait_and_detail(
    status: int, headers: dict[str, str], payload: object, expected: tuple[object, ...]
) -> None:
    kind, expected_status, wait, detail = expected
    raw = b"" if payload is None else body(payload)
    assert outcome(classify_google(status, headers, raw, NOW)) == (kind, "google", expected_status, wait, detail)


@pytest.mark.usefixtures("far_from_utc_local_zone")
def test_zoom_daily_limit_counts_to_utc_midnight_to_the_microsecond_whatever_the_local_zone() -> None:
    now = datetime(2025, 3, 10, 22, 30, 15, 500000, tzinfo=UTC)
    error = classify_zoom(429, {"x-ratelimit-type": "daily-limit"}, b"", now)
    assert error.retry_after == 3600 + 29 * 60 + 44.5


def test_transport_failure_names_the_exception_type_and_the_provider() -> None:
    error = transport_failure("zoom", TimeoutError("read timed out"))
    assert outcome(error) == (ErrorKind.TRANSIENT, "zoom", None, None, "TimeoutError talking to zoom")


def test_second_refusal_keeps_the_provider_status_and_what_was_refused() -> None:
    def call(token: str) -> str:
        raise unauthorized()

    with pytest.raises(ProviderError) as caught:
        retry_once_after_refresh(call, "old", lambda: "new")
    assert outcome(caught.value) == (ErrorKind.REVOKED, "zoom", 401, None, "refused after a refresh; code 124")


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            ProviderError(ErrorKind.RATE_LIMITED, "zoom", 429, 7.4, "slow down"),
            "zoom rate_limited HTTP 429, retry after 7s: slow down",
        ),
        (ProviderError(ErrorKind.TRANSIENT, "google"), "google transient: "),
    ],
)
def test_the_message_names_provider_kind_status_and_wait_only_when_known(error: ProviderError, text: str) -> None:
    assert str(error) == text
    assert error.args == (text,)


def test_details_lose_opaque_runs_and_stop_at_300_characters() -> None:
    opaque = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7"
    assert ProviderError(ErrorKind.BAD_REQUEST, "zoom", detail=f"bad {opaque} here").detail == "bad [redacted] here"
    assert len(ProviderError(ErrorKind.BAD_REQUEST, "zoom", detail="word " * 100).detail) == 300
