"""Every service boots with FLO_ENV=production and exactly what Terraform gives it, and answers a real route.

The environment and the Secret Manager secrets of each service are derived from infra/terraform (parsed
with python-hcl2) and terraform.tfvars.example, with the test's own values for the variables that point
at machines (SMTP relay, domain). Each service runs as the Dockerfile runs it (functions-framework), with
that environment plus only the stand-in addresses below; secrets come through the real Secret Manager
client from a local gRPC stand-in holding exactly the secrets Terraform grants that service, and OIDC and
Identity Platform tokens are signed with keys the test makes. A secret read but not granted, or a
variable needed but not set, fails the test naming it.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import hcl2
import httpx
import pytest
from google.cloud import pubsub_v1
from google.cloud.secretmanager_v1.types import AccessSecretVersionRequest, AccessSecretVersionResponse, SecretPayload

from devstack.emulators import free_port, stop_process
from shared.bookings.catalog import new_offer
from shared.bookings.model import CREATORS, hours_to_doc
from shared.store.firestore import FirestoreDocStore
from shared.store.port import put
from tests.fakes.pubsub import encode_push
from tests.oidc_tokens import key_and_cert, sign
from tests.tls_smtp import HOST, make_certificate, tls_smtp_server
from tests.unit.test_terraform import ROOT, TF_DIR, _clean, _local, _resource, _topology

pytestmark = pytest.mark.integration

STAND_IN_VARIABLES = frozenset(
    {
        "FIRESTORE_EMULATOR_HOST",
        "PUBSUB_EMULATOR_HOST",
        "SECRET_MANAGER_EMULATOR_HOST",
        "OIDC_CERTS_URL",
        "IDENTITY_PLATFORM_CERTS_URL",
        "SSL_CERT_FILE",  # trusts the test relay's certificate, as the image trusts a real relay's CA
        "PATH",
    }
)
"""The only variables a service gets beyond Terraform's: where the local stand-ins for Google listen."""


# --- what Terraform gives each service ------------------------------------------------------------------


def _tfvars(smtp_port: int) -> dict[str, Any]:
    """terraform.tfvars.example, with the relay pointed at the local TLS server."""
    with (TF_DIR / "terraform.tfvars.example").open() as handle:
        values: dict[str, Any] = _clean(hcl2.load(handle))
    return {**values, "smtp_host": HOST, "smtp_port": smtp_port}


def _service_account_email(resource: str, project_id: str) -> str:
    return f"{_resource('google_service_account', resource)['account_id']}@{project_id}.iam.gserviceaccount.com"


def _evaluate(expression: str, variables: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """The few expression forms local.common_env uses; anything else fails so the test is extended."""
    expression = expression.strip()
    if literal := re.fullmatch(r'"(.*)"', expression):
        return re.sub(r"\$\{var\.(\w+)\}", lambda m: str(variables[m[1]]), literal[1])
    if variable := re.fullmatch(r"(?:tostring\()?var\.(\w+)\)?", expression):
        return str(variables[variable[1]])
    if local := re.fullmatch(r"local\.(\w+)", expression):
        return names[local[1]]
    raise AssertionError(f"the boot test cannot evaluate {expression!r} from local.common_env")


def terraform_environment(service: str, variables: Mapping[str, Any]) -> dict[str, str]:
    """Exactly the env blocks of google_cloud_run_v2_service.service for this service."""
    project_id = str(variables["project_id"])
    common = re.fullmatch(r"\$\{merge\(\{(.*)\}, var\.provider_url_overrides\)\}", _local("common_env"), re.DOTALL)
    assert common, "local.common_env is no longer merge({...}, var.provider_url_overrides): update this test"
    accounts = ",".join(_service_account_email(name, project_id) for name in ("pubsub_push", "scheduler"))
    assert "pubsub_push.email, google_service_account.scheduler.email" in _local("oidc_service_accounts")
    env: dict[str, str] = {}
    for entry in re.split(r",\s*(?=[A-Z_]+\s*=)", common[1]):
        name, _, expression = entry.partition("=")
        env[name.strip()] = _evaluate(expression, variables, {"oidc_service_accounts": accounts})
    env.update({k: str(v) for k, v in variables["provider_url_overrides"].items()})
    container = _resource("google_cloud_run_v2_service", "service")["template"][0]["containers"][0]
    assert container["dynamic"][0]["env"]["for_each"] == (
        "${merge(local.common_env, {OIDC_AUDIENCE = local.oidc_audience[each.key]})}"
    )
    audience = re.search(r'=> "(.*)"', _local("oidc_audience"))
    assert audience, _local("oidc_audience")
    env["OIDC_AUDIENCE"] = audience[1].replace("${var.domain}", str(variables["domain"])).replace("${service}", service)
    return env


def granted_secrets(service: str) -> set[str]:
    return {name for name, readers in _local("secret_readers").items() if service in readers}


def _key() -> str:
    return "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def secret_value(name: str) -> str:
    """A well-formed value for each secret: key sets where a Vault parses one, a random string elsewhere."""
    return _key() if name.endswith("_KEYS") else secrets.token_urlsafe(24)


# --- stand-ins ------------------------------------------------------------------------------------------


@dataclass
class SecretManagerStandIn:
    """Secret Manager's AccessSecretVersion over plain gRPC, holding only one service's granted secrets.
    Anything else is PERMISSION_DENIED, as for a secret the service account may not access."""

    project_id: str
    values: dict[str, str]
    denied: list[str] = field(default_factory=list)

    def access(self, request: AccessSecretVersionRequest, context: grpc.ServicerContext) -> AccessSecretVersionResponse:
        found = re.fullmatch(r"projects/([^/]+)/secrets/([^/]+)/versions/latest", request.name)
        secret = found[2] if found and found[1] == self.project_id else request.name
        if secret not in self.values:
            self.denied.append(secret)
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"Permission denied on {request.name}")
        return AccessSecretVersionResponse(name=request.name, payload=SecretPayload(data=self.values[secret].encode()))

    @property
    def handler(self) -> grpc.GenericRpcHandler:
        method = grpc.unary_unary_rpc_method_handler(
            self.access,
            request_deserializer=AccessSecretVersionRequest.deserialize,
            response_serializer=AccessSecretVersionResponse.serialize,
        )
        return grpc.method_handlers_generic_handler(
            "google.cloud.secretmanager.v1.SecretManagerService", {"AccessSecretVersion": method}
        )


def serve_secret_manager(stand_in: SecretManagerStandIn) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((stand_in.handler,))
    port = server.add_insecure_port(f"{HOST}:0")
    server.start()
    return server, f"{HOST}:{port}"


class _CertsHandler(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "public, max-age=300")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass(frozen=True)
class Signer:
    private_pem: bytes
    certs_url: str
    project_id: str

    def push_token(self, audience: str, email: str) -> str:
        now = int(time.time())
        claims = {"iss": "https://accounts.google.com", "aud": audience, "sub": "1234567890", "email": email}
        return sign(self.private_pem, {**claims, "email_verified": True, "iat": now - 5, "exp": now + 600})

    def creator_token(self, uid: str) -> str:
        now = int(time.time())
        issuer = f"https://securetoken.google.com/{self.project_id}"
        claims = {"iss": issuer, "aud": self.project_id, "sub": uid, "user_id": uid, "auth_time": now - 60}
        return sign(self.private_pem, {**claims, "iat": now - 5, "exp": now + 600})


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signer]:
    private_pem, cert_pem = key_and_cert()
    handler = type("Certs", (_CertsHandler,), {"body": json.dumps({"key-1": cert_pem}).encode()})
    server = ThreadingHTTPServer((HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Signer(private_pem, f"http://{HOST}:{server.server_address[1]}/certs", "")
    finally:
        server.shutdown()


# --- the services -----------------------------------------------------------------------------------------


@dataclass
class Booted:
    name: str
    url: str
    env: dict[str, str]
    secrets: SecretManagerStandIn
    log: Path
    process: subprocess.Popen[bytes]

    def diagnosis(self) -> str:
        denied = sorted(set(self.secrets.denied))
        granted = sorted(self.secrets.values)
        lines = self.log.read_text(errors="replace").strip().splitlines()[-15:]
        return (
            f"{self.name}: secrets read but not granted by Terraform: {denied or 'none'} (granted: {granted}); "
            f"log:\n" + "\n".join(lines)
        )


def boot(name: str, env: dict[str, str], stand_in: SecretManagerStandIn, log: Path) -> Booted:
    """Start the service the way the Dockerfile's CMD does and wait for the startup probe's /health."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--target",
        "handle",
        "--source",
        f"services/{name}/main.py",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    booted = Booted(name, f"http://{HOST}:{port}", env, stand_in, log, process)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"{name} exited with {process.returncode}: {booted.diagnosis()}"
        try:
            response = httpx.get(f"{booted.url}/health", timeout=10)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{name} never listened: {booted.diagnosis()}"
            time.sleep(0.2)
            continue
        assert response.status_code == 200, f"{name} failed its startup probe: {booted.diagnosis()}"
        return booted


@dataclass(frozen=True)
class Production:
    services: dict[str, Booted]
    signer: Signer
    project_id: str
    store: FirestoreDocStore
    relay_messages: list[Any]


@pytest.fixture(scope="module")
def production(
    emulators: dict[str, str], signer: Signer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Production]:
    workdir = tmp_path_factory.mktemp("production-boot")
    cert, key = make_certificate(workdir)
    with tls_smtp_server(cert, key, "starttls", "apikey", "relay-password-from-secret-manager") as relay:
        variables = _tfvars(relay.port)
        project_id = str(variables["project_id"])
        publisher = pubsub_v1.PublisherClient()
        for topic in _topology()["topics"]:
            publisher.create_topic(name=publisher.topic_path(project_id, topic))
        # One value per secret for the whole project, as in Secret Manager; each service sees its share.
        project_secrets = {secret: secret_value(secret) for secret in _local("secret_readers")}
        project_secrets["SMTP_PASSWORD"] = relay.recorder.password
        services: dict[str, Booted] = {}
        servers: list[grpc.Server] = []
        try:
            for name in _topology()["services"]:
                stand_in = SecretManagerStandIn(project_id, {s: project_secrets[s] for s in granted_secrets(name)})
                server, address = serve_secret_manager(stand_in)
                servers.append(server)
                env = {
                    **terraform_environment(name, variables),
                    "FIRESTORE_EMULATOR_HOST": emulators["firestore"],
                    "PUBSUB_EMULATOR_HOST": emulators["pubsub"],
                    "SECRET_MANAGER_EMULATOR_HOST": address,
                    "OIDC_CERTS_URL": signer.certs_url,
                    "IDENTITY_PLATFORM_CERTS_URL": signer.certs_url,
                    "SSL_CERT_FILE": str(cert),
                    "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
                }
                assert env["FLO_ENV"] == "production"
                assert set(env) - set(terraform_environment(name, variables)) == STAND_IN_VARIABLES
                services[name] = boot(name, env, stand_in, workdir / f"{name}.log")
            store = FirestoreDocStore(project_id)
            yield Production(
                services, Signer(signer.private_pem, signer.certs_url, project_id), project_id, store, relay.messages
            )
        finally:
            for booted in services.values():
                stop_process(booted.process)
            for server in servers:
                server.stop(grace=None)


def _seed_creator(store: FirestoreDocStore, creator_id: str) -> str:
    every_day = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    creator = {"email": "ana@creator.example", "name": "Ana", "plan": "creator", "timezone": "UTC"}
    now = datetime.now(UTC)
    store.commit([put(CREATORS, creator_id, {**creator, "weekly_hours": hours_to_doc(every_day), "created_at": now})])
    return new_offer(store, creator_id, "Portfolio review", 30, 0, now)


def _post(booted: Booted, path: str, token: str | None, body: Mapping[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{booted.url}{path}", json=dict(body), headers=headers, timeout=30)


def test_every_service_answers_a_real_route_with_only_what_terraform_gives_it(production: Production) -> None:
    bookings, connect = production.services["bookings"], production.services["connect"]
    offer_id = _seed_creator(production.store, "creator-boot")
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    fan = {"name": "Bob Fan", "email": "bob@fan.example", "timezone": "Europe/Paris"}
    booked = _post(
        bookings, "/api/public/bookings", None, {"offer_id": offer_id, "start": start.isoformat(), "fan": fan}
    )
    assert booked.status_code == 201, booked.text + bookings.diagnosis()
    booking_id = booked.json()["booking_id"]
    assert booked.json()["manage_url"].startswith("https://book.flo.example/manage/")

    integrations = httpx.get(
        f"{connect.url}/api/integrations",
        headers={"Authorization": f"Bearer {production.signer.creator_token('creator-boot')}"},
        timeout=30,
    )
    assert integrations.status_code == 200, integrations.text + connect.diagnosis()
    assert set(integrations.json()) == {"zoom", "google"}

    push_sa = _service_account_email("pubsub_push", production.project_id)
    for subscription in _topology()["subscriptions"].values():
        worker = production.services[subscription["service"]]
        token = production.signer.push_token(worker.env["OIDC_AUDIENCE"], push_sa)
        event = {"type": "booking.changed", "booking_id": booking_id, "revision": 1}
        if subscription["topic"] == "payment-events":
            event = {"type": "payment.succeeded", "booking_id": booking_id}
        response = _post(worker, subscription["path"], token, encode_push(event, "1"))
        assert response.status_code == 200, f"{subscription['path']}: {response.text}\n{worker.diagnosis()}"
        unsigned = _post(worker, subscription["path"], None, encode_push(event, "2"))
        assert unsigned.status_code == 401, worker.diagnosis()

    scheduler_sa = _service_account_email("scheduler", production.project_id)
    for job in _topology()["scheduler"].values():
        target = production.services[job["service"]]
        token = production.signer.push_token(target.env["OIDC_AUDIENCE"], scheduler_sa)
        tick = _post(target, job["path"], token, {})
        assert tick.status_code == 200, tick.text + target.diagnosis()

    for booted in production.services.values():
        assert booted.secrets.denied == [], booted.diagnosis()
        assert booted.process.poll() is None, booted.diagnosis()


def test_the_boot_environment_is_terraform_s_and_no_secret_is_an_environment_variable(
    production: Production,
) -> None:
    for booted in production.services.values():
        assert not {name for name in booted.env if "SECRET" in name and name != "SECRET_MANAGER_EMULATOR_HOST"}
        assert "SMTP_PASSWORD" not in booted.env
        assert not set(booted.secrets.values) & set(booted.env), booted.name
