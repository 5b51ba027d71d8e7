"""The reminders service: Cloud Scheduler's tick sends owed confirmations and due reminders."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from shared.bootstrap import Runtime, scheduler_tick, service_app
from shared.notify.reminders import SchedulerTick
from shared.web import Route, WebApp, json_response, route


def build_routes(tick: SchedulerTick) -> list[Route]:
    @route("/tasks/reminders", "POST")
    def reminders(request: Request) -> Response:
        return json_response(tick.run())

    return [reminders]


def build_app(runtime: Runtime) -> WebApp:
    return service_app(runtime, build_routes(scheduler_tick(runtime)))
