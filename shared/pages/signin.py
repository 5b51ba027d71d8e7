"""How a browser becomes a signed-in creator: the session cookie holds the creator's token.

Production: /sign-in loads Identity Platform's own JavaScript (Google sign-in), which hands the page
the creator's ID token; the page POSTs it (with the CSRF value) to /sign-in, which verifies it as
the API verifies a Bearer token and keeps it in the session cookie. Every later request verifies
the cookie again; when the ID token has expired (after an hour) the creator is sent back to
/sign-in, where Identity Platform, still signed in, hands over a fresh token without a click.
Local (FLO_ENV=local): GET /dev/sign-in?token=<dev token>&next=<path> does the same with a dev token.
"""

from __future__ import annotations

from collections.abc import Mapping

from werkzeug.wrappers import Request, Response

from shared.pages.kit import PageError, PageKit, safe_next
from shared.web import ApiError, Route, route

DEFAULT_NEXT = "/dashboard/bookings"
IDENTITY_SCRIPTS = ("https://www.gstatic.com", "https://apis.google.com")
IDENTITY_APIS = ("https://identitytoolkit.googleapis.com", "https://securetoken.googleapis.com")


def sign_in_routes(kit: PageKit, environ: Mapping[str, str]) -> list[Route]:
    api_key = environ.get("IDENTITY_PLATFORM_API_KEY", "")
    auth_domain = environ.get("IDENTITY_PLATFORM_AUTH_DOMAIN", "")

    def signed_in(token: str, next_path: str) -> Response:
        try:
            kit.auth.verify(token)
        except ApiError as exc:
            if exc.status != 401:
                raise
            raise PageError(
                401, "You could not be signed in", "That sign-in is not valid any more. Try again."
            ) from None
        return kit.sign_in(kit.redirect(next_path), token)

    @route("/sign-in")
    @kit.page
    def sign_in_page(request: Request) -> Response:
        next_path = safe_next(request.args.get("next"), DEFAULT_NEXT)
        frames = (f"https://{auth_domain}",) if auth_domain else ()
        csp = kit.csp(scripts=IDENTITY_SCRIPTS, connect=IDENTITY_APIS, frames=frames)
        return kit.render(
            request,
            "sign_in.html.j2",
            csp=None if kit.local else csp,
            signed_out=request.args.get("signed_out") == "1",
            next_path=next_path,
            api_key=api_key,
            auth_domain=auth_domain,
        )

    @route("/sign-in", "POST")
    @kit.page
    def sign_in_post(request: Request) -> Response:
        kit.check_form(request)
        return signed_in(request.form.get("id_token", ""), safe_next(request.form.get("next"), DEFAULT_NEXT))

    @route("/sign-out", "POST")
    @kit.page
    def sign_out(request: Request) -> Response:
        kit.check_form(request)
        return kit.sign_out(kit.redirect("/sign-in?signed_out=1"))

    routes = [sign_in_page, sign_in_post, sign_out]
    if kit.local:

        @route("/dev/sign-in")
        @kit.page
        def dev_sign_in(request: Request) -> Response:
            return signed_in(request.args.get("token", ""), safe_next(request.args.get("next"), DEFAULT_NEXT))

        routes.append(dev_sign_in)
    return routes
