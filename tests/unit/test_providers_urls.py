from shared.providers.urls import ProviderUrls


def test_production_defaults_when_nothing_is_set() -> None:
    urls = ProviderUrls.from_env({})
    assert urls.zoom_authorize == "https://zoom.us/oauth/authorize"
    assert urls.zoom_api == "https://api.zoom.us/v2"
    assert urls.google_userinfo == "https://openidconnect.googleapis.com/v1/userinfo"
    assert urls.google_calendar_api == "https://www.googleapis.com/calendar/v3/"


def test_sandbox_paths_fill_every_url_not_set_explicitly() -> None:
    urls = ProviderUrls.from_env(
        {"PROVIDER_SANDBOX_URL": "http://127.0.0.1:9000/", "ZOOM_API_URL": "https://zoom.example/v2"}
    )
    assert urls.zoom_api == "https://zoom.example/v2"
    assert urls.zoom_token == "http://127.0.0.1:9000/zoom/oauth/token"
    assert urls.zoom_revoke == "http://127.0.0.1:9000/zoom/oauth/revoke"
    assert urls.google_authorize == "http://127.0.0.1:9000/google/o/oauth2/v2/auth"
    assert urls.google_token == "http://127.0.0.1:9000/google/token"
    assert urls.google_revoke == "http://127.0.0.1:9000/google/revoke"
    assert urls.google_userinfo == "http://127.0.0.1:9000/google/v1/userinfo"
    assert urls.google_calendar_api == "http://127.0.0.1:9000/google/calendar/v3/"


def test_explicit_variable_wins_without_sandbox() -> None:
    urls = ProviderUrls.from_env({"GOOGLE_TOKEN_URL": "https://token.example/t", "PROVIDER_SANDBOX_URL": ""})
    assert urls.google_token == "https://token.example/t"
    assert urls.google_revoke == "https://oauth2.googleapis.com/revoke"


def test_only_trailing_slashes_leave_the_sandbox_url() -> None:
    assert ProviderUrls.from_env({"PROVIDER_SANDBOX_URL": "http://SANDBOX//"}).zoom_api == "http://SANDBOX/zoom/v2"
