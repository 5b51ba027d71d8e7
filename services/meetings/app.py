"""The meetings service's routes."""

from shared.bootstrap import Runtime
from shared.web import WebApp


def build_app(runtime: Runtime) -> WebApp:
    return WebApp("meetings", [])
