"""Static checks of infra/terraform: parsed with python-hcl2 and compared with shared/topology.yaml.

terraform init needs the network (providers), so these tests read the HCL instead: every name comes
from the topology through for_each, identities and grants are least-privilege, secrets go only to
the services that read them, and the files are terraform-fmt clean.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "infra" / "terraform"
TOPOLOGY_PATH = ROOT / "shared" / "topology.yaml"

# The issue's secret -> readers table, written out independently of the Terraform. Creators' OAuth
# tokens and fans' manage tokens have separate keys: notify and reminders never hold the first.
EXPECTED_SECRET_READERS = {
    "ZOOM_CLIENT_ID": {"connect", "meetings", "reminders"},
    "ZOOM_CLIENT_SECRET": {"connect", "meetings", "reminders"},
    "ZOOM_WEBHOOK_SECRET": {"connect"},
    "GOOGLE_CLIENT_ID": {"connect", "meetings", "bookings", "reminders"},
    "GOOGLE_CLIENT_SECRET": {"connect", "meetings", "bookings", "reminders"},
    "TOKEN_ENCRYPTION_KEYS": {"connect", "meetings", "bookings", "reminders"},
    "MANAGE_TOKEN_KEYS": {"bookings", "connect", "notify", "reminders"},
    "OAUTH_STATE_SECRET": {"connect"},
    "SMTP_PASSWORD": {"notify", "reminders"},
}
EXPECTED_PUBLISHERS = {
    "bookings": {"booking-events", "refund-requests"},
    "connect": {"booking-events"},
    "meetings": {"link-events"},
    "reminders": {"booking-events"},
}
PRIMITIVE_ROLES = ("roles/editor", "roles/owner", "roles/viewer")


def _tf_files(pattern: str) -> list[Path]:
    """Files of the configuration itself, not a local `terraform init`'s downloads in .terraform/."""
    return sorted(p for p in TF_DIR.rglob(pattern) if p.is_file() and ".terraform" not in p.parts)


def _clean(value: Any) -> Any:
    """python-hcl2 8 keeps string quotes and block markers; strip them so values compare plainly."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@functools.cache
def _tf() -> dict[str, Any]:
    """All .tf files merged: resources by (type, name), locals, variables, terraform blocks."""
    merged: dict[str, Any] = {"resource": {}, "locals": {}, "variable": {}, "terraform": [], "output": {}}
    files = _tf_files("*.tf")
    assert files, f"no .tf files under {TF_DIR}"
    for path in files:
        with path.open() as handle:
            parsed = _clean(hcl2.load(handle))
        for block in parsed.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    assert (rtype, name) not in merged["resource"], f"duplicate resource {rtype}.{name}"
                    merged["resource"][(rtype, name)] = body
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        for block in parsed.get("variable", []):
            merged["variable"].update(block)
        for block in parsed.get("output", []):
            merged["output"].update(block)
        merged["terraform"].extend(parsed.get("terraform", []))
    return merged


@functools.cache
def _topology() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TOPOLOGY_PATH.read_text())
    return loaded


def _resource(rtype: str, name: str) -> dict[str, Any]:
    resources: dict[tuple[str, str], dict[str, Any]] = _tf()["resource"]
    assert (rtype, name) in resources, f"missing resource {rtype}.{name}"
    return resources[(rtype, name)]


def _resources_of(rtype: str) -> dict[str, dict[str, Any]]:
    return {name: body for (kind, name), body in _tf()["resource"].items() if kind == rtype}


def _block(body: dict[str, Any], name: str) -> dict[str, Any]:
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {name} block"
    block: dict[str, Any] = blocks[0]
    return block


def _local(name: str) -> Any:
    assert name in _tf()["locals"], f"missing local.{name}"
    return _tf()["locals"][name]


def _strings(value: Any) -> list[str]:
    """Every string anywhere inside a parsed value."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [*_strings(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _render(template: str, key: str) -> str:
    """The name Terraform gives the instance `key` of a for_each resource whose name is `template`."""
    return template.replace("${each.key}", key)


# --- topology is the source -------------------------------------------------------------------


def test_topology_is_read_with_yamldecode_from_the_shared_file() -> None:
    expression = _local("topology")
    match = re.fullmatch(r'\$\{yamldecode\(file\("\$\{path\.module\}/(.+)"\)\)\}', expression)
    assert match, expression
    assert (TF_DIR / match.group(1)).resolve() == TOPOLOGY_PATH.resolve()


def test_subscriptions_local_is_topology_with_retry_defaults() -> None:
    expression = _local("subscriptions")
    assert "local.topology.subscriptions" in expression
    assert "merge(local.topology.retry_defaults" in expression


def test_no_topology_name_is_repeated_in_terraform() -> None:
    topology = _topology()
    names = {*topology["topics"], *topology["subscriptions"], *topology["scheduler"]}
    for path in _tf_files("*.tf"):
        text = path.read_text()
        for name in names:
            assert f'"{name}"' not in text or path.name == "locals.tf", f"{name} hard-coded in {path.name}"


def test_every_topic_comes_from_the_topology() -> None:
    topic = _resource("google_pubsub_topic", "topic")
    assert topic["for_each"] == "${local.topology.topics}"
    assert topic["name"] == "${each.key}"
    assert _topology()["topics"], "topology declares no topics"


def test_every_subscription_is_a_push_subscription_with_dead_letter_policy() -> None:
    topology = _topology()
    push = _resource("google_pubsub_subscription", "push")
    assert push["for_each"] == "${local.subscriptions}"
    assert push["name"] == "${each.key}"
    assert push["topic"] == "${google_pubsub_topic.topic[each.value.topic].id}"
    dead_letter_policy = _block(push, "dead_letter_policy")
    assert dead_letter_policy["dead_letter_topic"] == "${google_pubsub_topic.dead_letter[each.key].id}"
    assert dead_letter_policy["max_delivery_attempts"] == "${each.value.max_delivery_attempts}"
    retry = _block(push, "retry_policy")
    assert retry["minimum_backoff"] == "${each.value.minimum_backoff_seconds}s"
    assert retry["maximum_backoff"] == "${each.value.maximum_backoff_seconds}s"
    push_config = _block(push, "push_config")
    assert push_config["push_endpoint"] == (
        "${google_cloud_run_v2_service.service[each.value.service].uri}${each.value.path}"
    )
    oidc = _block(push_config, "oidc_token")
    assert oidc["service_account_email"] == "${google_service_account.pubsub_push.email}"

    defaults = topology["retry_defaults"]
    assert 5 <= defaults["max_delivery_attempts"] <= 100  # Pub/Sub's allowed range
    for name, sub in topology["subscriptions"].items():
        # Each instance of the for_each gets the block above; the topology must supply what it reads.
        assert sub["topic"] in topology["topics"], name
        assert sub["service"] in topology["services"], name
        assert sub["path"].startswith("/"), name
        assert 5 <= sub.get("max_delivery_attempts", defaults["max_delivery_attempts"]) <= 100, name


def test_every_subscription_gets_a_dead_letter_topic_and_pull_subscription() -> None:
    dead_topic = _resource("google_pubsub_topic", "dead_letter")
    dead_sub = _resource("google_pubsub_subscription", "dead_letter")
    assert dead_topic["for_each"] == dead_sub["for_each"] == "${local.subscriptions}"
    assert dead_sub["topic"] == "${google_pubsub_topic.dead_letter[each.key].id}"
    assert "push_config" not in dead_sub
    for name in _topology()["subscriptions"]:
        assert _render(dead_topic["name"], name) == f"{name}-dead-letter"
        assert _render(dead_sub["name"], name) == f"{name}-dead-letter-sub"


def test_pubsub_service_agent_can_dead_letter() -> None:
    agent = _local("pubsub_service_agent")
    assert agent == ("serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com")
    publisher = _resource("google_pubsub_topic_iam_member", "dead_letter_publisher")
    assert publisher["for_each"] == "${local.subscriptions}"
    assert publisher["topic"] == "${google_pubsub_topic.dead_letter[each.key].id}"
    assert publisher["role"] == "roles/pubsub.publisher"
    assert publisher["member"] == "${local.pubsub_service_agent}"
    subscriber = _resource("google_pubsub_subscription_iam_member", "dead_letter_source_subscriber")
    assert subscriber["for_each"] == "${local.subscriptions}"
    assert subscriber["subscription"] == "${google_pubsub_subscription.push[each.key].id}"
    assert subscriber["role"] == "roles/pubsub.subscriber"
    assert subscriber["member"] == "${local.pubsub_service_agent}"


# --- services and identities ------------------------------------------------------------------


def test_every_service_runs_on_cloud_run_as_its_own_account() -> None:
    run = _resource("google_cloud_run_v2_service", "service")
    accounts = _resource("google_service_account", "service")
    assert run["for_each"] == accounts["for_each"] == "${local.topology.services}"
    assert accounts["account_id"] == "run-${each.key}"
    template = _block(run, "template")
    assert template["service_account"] == "${google_service_account.service[each.key].email}"
    for service in _topology()["services"]:
        account_id = _render(accounts["account_id"], service)
        assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account_id), account_id
    scaling = _block(template, "scaling")
    assert "var.min_instances" in scaling["min_instance_count"]
    assert "var.max_instances" in scaling["max_instance_count"]
    container = _block(template, "containers")
    assert "@${try(var.image_digests[each.key]" in container["image"]


def test_services_get_the_contract_environment() -> None:
    common = _local("common_env")
    fixed = _strings(common)
    for name in (
        "FLO_ENV",
        "FLO_BASE_URL",
        "GOOGLE_CLOUD_PROJECT",
        "MAIL_FROM",
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USERNAME",
        "OIDC_SERVICE_ACCOUNTS",
    ):
        assert any(re.search(rf"\b{name}\s*=", s) for s in fixed), f"{name} missing from local.common_env"
    assert any('FLO_ENV = "production"' in s for s in fixed)
    assert any("var.provider_url_overrides" in s for s in fixed)
    container = _block(_block(_resource("google_cloud_run_v2_service", "service"), "template"), "containers")
    env = container["dynamic"][0]["env"]
    assert "local.common_env" in env["for_each"]
    assert "OIDC_AUDIENCE = local.oidc_audience[each.key]" in env["for_each"]
    assert not any("SECRET" in s or "PASSWORD" in s for s in fixed), "secret values must not be env vars"


def test_no_primitive_roles_anywhere() -> None:
    for path in _tf_files("*"):
        text = path.read_text()
        for role in PRIMITIVE_ROLES:
            assert role not in text, f"{role} in {path.name}"
    roles = [
        body["role"]
        for (rtype, _), body in _tf()["resource"].items()
        if rtype.endswith(("_iam_member", "_iam_binding")) and "role" in body
    ]
    assert roles
    for role in roles:
        assert role.startswith(("roles/", "${each.value.role}")), role
    assert not [r for r in _tf()["resource"] if r[0].endswith("_iam_policy")], "authoritative IAM policies"


def test_project_level_roles_are_only_datastore_user_and_log_writer() -> None:
    assert set(_local("service_project_roles")) == {"roles/datastore.user", "roles/logging.logWriter"}
    project_grants = _resources_of("google_project_iam_member")
    assert set(project_grants) == {"service"}
    grant = project_grants["service"]
    assert grant["for_each"] == "${local.service_role_grants}"
    assert grant["member"] == "${google_service_account.service[each.value.service].member}"
    assert "local.topology.services" in _local("service_role_grants")


def test_publishers_are_granted_per_topic_as_declared() -> None:
    declared = {service: set(topics) for service, topics in _local("topic_publishers").items()}
    assert declared == EXPECTED_PUBLISHERS
    publisher = _resource("google_pubsub_topic_iam_member", "publisher")
    assert publisher["for_each"] == "${local.publisher_grants}"
    assert publisher["topic"] == "${google_pubsub_topic.topic[each.value.topic].id}"
    assert publisher["member"] == "${google_service_account.service[each.value.service].member}"
    assert "local.topic_publishers" in _local("publisher_grants")
    for topics in declared.values():
        assert topics <= set(_topology()["topics"])


def test_invokers_are_scoped_to_their_targets() -> None:
    push = _resource("google_cloud_run_v2_service_iam_member", "pubsub_push_invoker")
    assert push["for_each"] == "${toset([for sub in values(local.subscriptions) : sub.service])}"
    assert push["member"] == "${google_service_account.pubsub_push.member}"
    scheduler = _resource("google_cloud_run_v2_service_iam_member", "scheduler_invoker")
    assert scheduler["for_each"] == "${toset([for job in values(local.topology.scheduler) : job.service])}"
    assert scheduler["member"] == "${google_service_account.scheduler.member}"
    assert {job["service"] for job in _topology()["scheduler"].values()} == {"reminders", "meetings"}
    for grant in (push, scheduler):
        assert grant["role"] == "roles/run.invoker"


# --- secrets ----------------------------------------------------------------------------------


def test_secret_readers_match_the_issue_exactly() -> None:
    declared = {secret: set(readers) for secret, readers in _local("secret_readers").items()}
    assert declared == EXPECTED_SECRET_READERS
    services = set(_topology()["services"])
    for readers in declared.values():
        assert readers <= services


def test_each_secret_is_granted_to_its_readers_alone() -> None:
    secret = _resource("google_secret_manager_secret", "secret")
    assert secret["for_each"] == "${local.secret_readers}"
    assert secret["secret_id"] == "${each.key}"
    assert "secret_data" not in secret
    assert not _resources_of("google_secret_manager_secret_version"), "secret values must not be in Terraform"
    grants = _resource("google_secret_manager_secret_iam_member", "reader")
    assert grants["for_each"] == "${local.secret_grants}"
    assert grants["secret_id"] == "${google_secret_manager_secret.secret[each.value.secret].id}"
    assert grants["role"] == "roles/secretmanager.secretAccessor"
    assert grants["member"] == "${google_service_account.service[each.value.service].member}"
    expression = _local("secret_grants")
    assert "for secret, readers in local.secret_readers" in expression
    assert "for service in readers" in expression
    accessor_grants = [
        key
        for key, body in _tf()["resource"].items()
        if "secretmanager" in str(body.get("role", "")) or "secretAccessor" in str(body.get("role", ""))
    ]
    assert accessor_grants == [("google_secret_manager_secret_iam_member", "reader")]


# --- scheduler, load balancer, data -----------------------------------------------------------


def test_every_scheduler_job_uses_oidc() -> None:
    jobs = _resources_of("google_cloud_scheduler_job")
    assert jobs
    for name, job in jobs.items():
        target = _block(job, "http_target")
        oidc = _block(target, "oidc_token")
        assert oidc["service_account_email"] == "${google_service_account.scheduler.email}", name
        assert oidc["audience"] == "${local.oidc_audience[each.value.service]}", name
        assert "oauth_token" not in target, name
    assert jobs["job"]["for_each"] == "${local.topology.scheduler}"


def test_load_balancer_serves_only_public_routes() -> None:
    assert _local("public_routes") == "${[for route in local.topology.routes : route if route.public]}"
    url_map = _resource("google_compute_url_map", "https")
    matcher = _block(url_map, "path_matcher")
    rules = matcher["dynamic"][0]["path_rule"]
    assert rules["for_each"] == "${local.public_route_paths}"
    assert "local.public_routes" in _tf()["locals"]["public_route_paths"]
    assert _resource("google_compute_region_network_endpoint_group", "service")["for_each"] == (
        "${local.public_services}"
    )
    redirect = _block(_resource("google_compute_url_map", "http_redirect"), "default_url_redirect")
    assert redirect["https_redirect"] is True
    assert _resource("google_compute_managed_ssl_certificate", "lb")


def test_firestore_has_point_in_time_recovery_and_a_daily_backup() -> None:
    database = _resource("google_firestore_database", "main")
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    schedule = _resource("google_firestore_backup_schedule", "daily")
    assert schedule["database"] == "${google_firestore_database.main.name}"
    assert "daily_recurrence" in schedule
    assert "var.firestore_backup_retention_days" in schedule["retention"]


def test_ttl_only_on_short_lived_collections_the_code_writes_expires_at_to() -> None:
    ttl = _resource("google_firestore_field", "expires_at_ttl")
    assert ttl["field"] == "expires_at"
    assert "ttl_config" in ttl
    assert ttl["for_each"] == "${local.ttl_collections}"
    collections = set(re.findall(r'"([a-z_]+)"', _local("ttl_collections")))
    assert collections == {"oauth_states", "leases", "hold_releases", "emails"}
    code = "\n".join(p.read_text() for p in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")])
    declared = dict(re.findall(r'^([A-Z_]+) = "([a-z_]+)"$', code, flags=re.MULTILINE))
    for collection in collections:
        assert collection in declared.values(), f"TTL on {collection}, which no code writes"
    assert '"expires_at": now + RECORD_RETENTION' in (ROOT / "shared/notify/ledger.py").read_text()
    assert '"expires_at": now + HOLD_RELEASE_RETENTION' in (ROOT / "shared/bookings/repository.py").read_text()


# --- private by default ------------------------------------------------------------------------


def _public_services() -> set[str]:
    return {route["service"] for route in _topology()["routes"] if route["public"]}


def test_only_services_with_public_routes_allow_all_users() -> None:
    assert _public_services() == {"bookings", "connect"}, "workers must have no route on the load balancer"
    public = _resource("google_cloud_run_v2_service_iam_member", "public_invoker")
    assert public["for_each"] == "${local.public_services}"
    assert public["member"] == "allUsers"
    assert _local("public_services") == "${toset([for route in local.public_routes : route.service])}"
    all_users = [key for key, body in _tf()["resource"].items() if "allUsers" in _strings(body)]
    assert all_users == [("google_cloud_run_v2_service_iam_member", "public_invoker")]
    for path in _tf_files("*.tf"):
        assert "allAuthenticatedUsers" not in path.read_text(), path.name


def test_the_local_only_dev_routes_are_not_on_the_load_balancer() -> None:
    dev = {r["prefix"]: r["public"] for r in _topology()["routes"] if "/dev/" in r["prefix"]}
    assert dev == {"/api/dev/": False, "/dev/": False}


def test_health_is_checked_by_cloud_run_probes() -> None:
    public_health = [r["prefix"] for r in _topology()["routes"] if r["public"] and r["prefix"].startswith("/health")]
    assert public_health == [], "health routes must not be on the load balancer"
    container = _block(_block(_resource("google_cloud_run_v2_service", "service"), "template"), "containers")
    for probe in ("startup_probe", "liveness_probe"):
        http_get = _block(_block(container, probe), "http_get")
        assert http_get["path"] == "/health", probe
        assert http_get["port"] == 8080, probe


def test_request_timeouts_fit_the_push_ack_deadline_and_the_scheduler_deadline() -> None:
    topology = _topology()
    settings = _local("run_settings")
    assert set(settings) == set(topology["services"])
    template = _block(_resource("google_cloud_run_v2_service", "service"), "template")
    assert template["max_instance_request_concurrency"] == "${local.run_settings[each.key].concurrency}"
    assert template["timeout"] == "${local.run_settings[each.key].timeout_seconds}s"
    for name, sub in topology["subscriptions"].items():
        ack_deadline = sub.get("ack_deadline_seconds", topology["retry_defaults"]["ack_deadline_seconds"])
        assert settings[sub["service"]]["timeout_seconds"] < ack_deadline, name
    attempt_deadline = int(_resource("google_cloud_scheduler_job", "job")["attempt_deadline"].rstrip("s"))
    for name, job in topology["scheduler"].items():
        assert settings[job["service"]]["timeout_seconds"] < attempt_deadline, name
    for name, values in settings.items():
        assert 1 <= values["concurrency"] <= 1000, name


def _aborts_with_404(route_action: dict[str, Any]) -> bool:
    abort = _block(_block(route_action, "fault_injection_policy"), "abort")
    return bool(abort["http_status"] == 404 and abort["percentage"] == 100)


def test_unknown_paths_get_404_from_the_load_balancer() -> None:
    url_map = _resource("google_compute_url_map", "https")
    matcher = _block(url_map, "path_matcher")
    for where in (url_map, matcher):
        assert "default_service" not in where
        assert _aborts_with_404(_block(where, "default_route_action"))


def test_tls_policy_is_modern_tls_1_2() -> None:
    policy = _resource("google_compute_ssl_policy", "modern")
    assert (policy["profile"], policy["min_tls_version"]) == ("MODERN", "TLS_1_2")
    assert _resource("google_compute_target_https_proxy", "lb")["ssl_policy"] == (
        "${google_compute_ssl_policy.modern.id}"
    )


def test_cloud_armor_rate_limits_each_client_on_every_public_backend() -> None:
    policy = _resource("google_compute_security_policy", "edge")
    throttles = [rule for rule in policy["rule"] if rule["action"] == "throttle"]
    assert len(throttles) == 1
    options = _block(throttles[0], "rate_limit_options")
    assert options["enforce_on_key"] == "IP"
    assert options["exceed_action"] == "deny(429)"
    threshold = _block(options, "rate_limit_threshold")
    assert threshold["count"] == "${var.rate_limit_requests_per_minute}"
    assert threshold["interval_sec"] == 60
    default = [rule for rule in policy["rule"] if rule["priority"] == 2147483647]
    assert len(default) == 1 and default[0]["action"] == "allow"
    backend = _resource("google_compute_backend_service", "service")
    assert backend["security_policy"] == "${google_compute_security_policy.edge.id}"


def test_secrets_are_replicated_in_the_region() -> None:
    replication = _block(_resource("google_secret_manager_secret", "secret"), "replication")
    assert "auto" not in replication
    replica = _block(_block(replication, "user_managed"), "replicas")
    assert replica["location"] == "${var.region}"


def test_artifact_registry_keeps_recent_images_and_deletes_old_ones() -> None:
    repository = _resource("google_artifact_registry_repository", "images")
    assert repository["cleanup_policy_dry_run"] is False
    policies = {policy["action"]: policy for policy in repository["cleanup_policies"]}
    assert set(policies) == {"KEEP", "DELETE"}
    assert "var.images_kept_per_service" in _block(policies["KEEP"], "most_recent_versions")["keep_count"]
    assert "var.image_retention_days" in _block(policies["DELETE"], "condition")["older_than"]


def test_identity_platform_is_enabled_for_creators() -> None:
    config = _resource("google_identity_platform_config", "default")
    assert config["authorized_domains"] == ["${var.domain}"]
    assert _block(_block(config, "sign_in"), "email")["enabled"] is True
    assert "identitytoolkit.googleapis.com" in _local("apis")


# --- module hygiene ---------------------------------------------------------------------------


def test_provider_is_pinned_and_backend_is_gcs() -> None:
    blocks = _tf()["terraform"]
    assert len(blocks) == 1
    block = blocks[0]
    google = block["required_providers"][0]["google"]
    assert google["source"] == "hashicorp/google"
    assert re.fullmatch(r"~> 7\.\d+(\.\d+)?", google["version"]), google["version"]  # the current major
    assert "gcs" in block["backend"][0]
    assert (TF_DIR / "backend.hcl.example").is_file()
    assert (TF_DIR / "terraform.tfvars.example").is_file()


def test_variables_are_typed_and_described() -> None:
    variables = _tf()["variable"]
    assert {"project_id", "region", "domain", "image_digests", "min_instances", "max_instances"} <= set(variables)
    for name, body in variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert body.get("description"), f"variable {name} has no description"
    for name in ("project_id", "domain", "image_digests", "min_instances", "max_instances", "smtp_port"):
        assert variables[name].get("validation"), f"variable {name} has no validation"
    for name, body in _tf()["output"].items():
        assert body.get("description"), f"output {name} has no description"


def test_terraform_fmt_is_clean() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("terraform is not on PATH; CI and this machine must provide it")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
