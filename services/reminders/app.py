"""The reminders service: Cloud Scheduler's tick sends owed confirmations and due reminders."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from shared.bootstrap import Runtime, manage_token_resealer, scheduler_tick, service_app
from shared.notify.reminders import SchedulerTick
from shared.rotation import reseal_route
from shared.schemas import Ack
from shared.web import Route, WebApp, json_response, route


def build_routes(tick: SchedulerTick) -> list[Route]:
    @route(
        "/tasks/reminders",
        "POST",
        summary="Cloud Scheduler's tick: due reminders, owed confirmations and the booking sweeps",
        responses={200: Ack},
    )
    def reminders(request: Request) -> Response:
        return json_response(tick.run())

    return [reminders]


def build_app(runtime: Runtime) -> WebApp:
    routes = build_routes(scheduler_tick(runtime))
    return service_app(runtime, [*routes, reseal_route(manage_token_resealer(runtime))])
