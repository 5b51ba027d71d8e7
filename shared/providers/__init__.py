"""The provider layer every service uses: Zoom and Google behind small ports, with one error classification.

Modules: `ports` (OAuthProvider, VideoProvider, CalendarProvider), `models` (the values they
exchange), `errors` (ProviderError and its kinds), `oauth`, `zoom`, `google_calendar` (adapters),
`zoom_webhook` and `urls` (where the providers live); their in-memory twins live in tests/fakes.
"""
