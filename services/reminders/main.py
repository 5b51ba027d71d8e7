"""Cloud Run entry point of the reminders service: hands each request to the app, nothing more."""

import functions_framework
from flask import Request
from werkzeug.wrappers import Response

from services.reminders.app import build_app
from shared.bootstrap import lazy_service

_app = lazy_service("reminders", build_app)


@functions_framework.http
def handle(request: Request) -> Response:
    return _app.handle(request)
