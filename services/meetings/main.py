"""Cloud Run entry point of the meetings service: hands each request to the app, nothing more."""

import functions_framework
from flask import Request
from werkzeug.wrappers import Response

from services.meetings.app import build_app
from shared.bootstrap import lazy_service

_app = lazy_service("meetings", build_app)


@functions_framework.http
def handle(request: Request) -> Response:
    return _app.handle(request)
