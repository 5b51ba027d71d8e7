import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from shared.oauth_state import STATE_LIFETIME, StateError, StatePayload, StateSigner

SECRET = "s" * 40
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BROWSER = "the-starting-browser-cookie-value"


def test_round_trip() -> None:
    signer = StateSigner(SECRET)
    state, nonce = signer.issue("creator-1", "zoom", NOW, BROWSER)
    payload = signer.verify(state, "zoom", NOW + timedelta(minutes=9), BROWSER)
    assert payload.creator_id == "creator-1"
    assert payload.provider == "zoom"
    assert payload.nonce == nonce
    assert payload.expires_at == NOW + STATE_LIFETIME
    assert signer.issue("creator-1", "zoom", NOW, BROWSER)[1] != nonce
    assert quote(state, safe="") == state, "goes into the authorize URL as it is"


# Issued by StateSigner(SECRET) at NOW for creator-1, zoom and BROWSER, with the nonce "pinned-nonce".
EARLIER_RELEASE_STATE = (
    "eyJjIjogImNyZWF0b3ItMSIsICJwIjogInpvb20iLCAibiI6ICJwaW5uZWQtbm9uY2UiLCAiZSI6IDE3NDg3Nzk4MDAsICJiIjogImVtbU9m"
    "SVZvMDFiVl9sQ2JYMXcxTmxDbXdMenhFeHZ3Y1dud2Y4MDJaVkUifQ.DRk4fG0G9hpq3zz0LP5MHFgCrfErMK9IJQdeI9pSZow"
)


def test_a_state_issued_before_a_deploy_still_verifies_after_it() -> None:
    """A connect started on the old release comes back to the new one: the state's format must not drift."""
    assert StateSigner(SECRET).verify(EARLIER_RELEASE_STATE, "zoom", NOW, BROWSER) == StatePayload(
        creator_id="creator-1", provider="zoom", nonce="pinned-nonce", expires_at=NOW + STATE_LIFETIME
    )


def reason(signer: StateSigner, state: str, provider: str = "zoom", now: datetime = NOW) -> str:
    with pytest.raises(StateError) as caught:
        signer.verify(state, provider, now, BROWSER)
    assert str(caught.value) == f"OAuth state refused: {caught.value.reason}"
    return caught.value.reason


def test_bad_signature() -> None:
    signer = StateSigner(SECRET)
    state, _ = signer.issue("creator-1", "zoom", NOW, BROWSER)
    assert reason(StateSigner("t" * 40), state) == "bad_signature"
    body, _, signature = state.partition(".")
    forged, _ = StateSigner("t" * 40).issue("attacker", "zoom", NOW, BROWSER)
    assert reason(signer, forged.partition(".")[0] + "." + signature) == "bad_signature"
    assert reason(signer, body + "." + signature[:-2]) == "bad_signature"


def test_wrong_provider() -> None:
    signer = StateSigner(SECRET)
    state, _ = signer.issue("creator-1", "google", NOW, BROWSER)
    assert reason(signer, state, provider="zoom") == "wrong_provider"


def test_expired_after_ten_minutes() -> None:
    signer = StateSigner(SECRET)
    state, _ = signer.issue("creator-1", "zoom", NOW, BROWSER)
    assert reason(signer, state, now=NOW + timedelta(minutes=10)) == "expired"


@pytest.mark.parametrize("state", ["", "nodot", ".sig", ".sig.more", "body."])
def test_malformed(state: str) -> None:
    assert reason(StateSigner(SECRET), state) == "malformed"


def test_signed_garbage_is_malformed() -> None:
    signer = StateSigner(SECRET)
    body = "bm90LWpzb24"  # "not-json"
    assert reason(signer, f"{body}.{signer._sign(body)}") == "malformed"


def test_short_secret_refused_and_repr_hides_it() -> None:
    with pytest.raises(ValueError) as caught:
        StateSigner("s" * 31)
    assert str(caught.value) == "OAUTH_STATE_SECRET must be at least 32 characters"
    assert repr(StateSigner(SECRET)) == "StateSigner(secret='[redacted]')"


@pytest.mark.parametrize("browser", [None, "", "another-browser-cookie-value"])
def test_a_state_comes_back_only_in_the_browser_that_started_it(browser: str | None) -> None:
    signer = StateSigner(SECRET)
    state, _ = signer.issue("creator-1", "zoom", NOW, BROWSER)
    with pytest.raises(StateError) as caught:
        signer.verify(state, "zoom", NOW, browser)
    assert caught.value.reason == "other_browser"


ISSUED_BEFORE_A_DEPLOY = (
    "eyJjIjogImNyZWF0b3ItMSIsICJwIjogInpvb20iLCAibiI6ICJkZkhnVmdYN2tOaU9oYnFfZjdwRnRRIiwgImUiOiAxNzM1NjkwMjAwLCAiYiI6"
    "ICJ5TFlxWUhIYnM2YWdQdHkyYjhPQVIxdkJ3U2hvWHhJOWJCdVRPbC1rdnlJIn0.qqOJmXdetdbHDE9WccRz3nckO7yFUmvXdhgMrLVSyeg"
)


def test_a_state_issued_by_the_previous_release_still_verifies() -> None:
    """A connect started just before a deploy comes back to the new release: the signing and binding must not drift."""
    issued_at = datetime(2025, 1, 1, tzinfo=UTC)
    payload = StateSigner("k" * 40).verify(ISSUED_BEFORE_A_DEPLOY, "zoom", issued_at, "browser-cookie-value")
    assert (payload.creator_id, payload.nonce) == ("creator-1", "dfHgVgX7kNiOhbq_f7pFtQ")


def test_a_state_is_url_safe_without_padding() -> None:
    for creator in ("c", "cr", "cre"):  # bodies of every length modulo 3
        state, _ = StateSigner(SECRET).issue(creator, "zoom", NOW, BROWSER)
        assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", state)


def test_refusals_and_configuration_errors_say_why() -> None:
    assert str(StateError("expired")) == "OAuth state refused: expired"
    with pytest.raises(ValueError) as caught:
        StateSigner("short")
    assert str(caught.value) == "OAUTH_STATE_SECRET must be at least 32 characters"
    assert repr(StateSigner(SECRET)) == "StateSigner(secret='[redacted]')"
