"""The OAuth callback's details: every permission left unticked is named, short, to the creator, and a used
state leaves only its marker behind, which Firestore's TTL deletes when the state would have expired."""

from __future__ import annotations

import pytest

from services.connect.app import FAILED
from shared.connections.connect import OAUTH_STATES
from shared.providers.oauth import GOOGLE_SCOPES
from tests.unit.test_connect_harness import Harness, settings_query


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_every_permission_left_unticked_is_named_in_its_short_form(h: Harness) -> None:
    h.oauth["google"].granted_scopes = GOOGLE_SCOPES - {"openid", "https://www.googleapis.com/auth/calendar.events"}
    assert settings_query(h.connect("google")) == {"error": [f"{FAILED} Missing permission: calendar.events, openid"]}
    assert h.connection("google") is None


def test_a_used_state_leaves_only_its_marker_which_expires_with_it(h: Harness) -> None:
    state = h.start("zoom")
    [(nonce, record)] = h.store.query(OAUTH_STATES)
    assert settings_query(h.callback("zoom", code=h.oauth["zoom"].consent(state), state=state)) == {
        "connected": ["zoom"]
    }
    assert h.store.query(OAUTH_STATES) == [(f"used-{nonce}", {"expires_at": record["expires_at"]})]
