locals {
  # The one declaration of services, routes, topics, subscriptions and scheduler jobs. Every
  # for_each below iterates over it, so a name added there is deployed without editing this folder.
  topology = yamldecode(file("${path.module}/../../shared/topology.yaml"))

  # Each push subscription with the topology's retry_defaults filled in where it says nothing.
  subscriptions = {
    for name, sub in local.topology.subscriptions : name => merge(local.topology.retry_defaults, sub)
  }

  public_routes = [for route in local.topology.routes : route if route.public]

  # Services with at least one route on the load balancer: only these accept unauthenticated
  # invocations (the load balancer sends no Google credentials). The workers (meetings, notify,
  # reminders) have no public route; their health is checked by Cloud Run's own probes.
  public_services = toset([for route in local.public_routes : route.service])

  # Per-service request handling. A push handler must finish before its subscription's ack deadline
  # (topology retry_defaults.ack_deadline_seconds, 60 s) or Pub/Sub redelivers a message still being
  # worked on; the scheduler target must finish inside the job's attempt_deadline (180 s).
  # - bookings, connect: browser-facing and I/O-bound (Firestore, one Google/Zoom call), so many
  #   requests share an instance; 30 s is past any provider timeout (10 s) plus a retry.
  # - meetings: each push may call Zoom and Google with a refresh in between; 10 at a time keeps
  #   provider rate limits and memory in check; 50 s < 60 s ack deadline.
  # - notify: each push renders and sends up to a handful of emails over SMTP (20 s timeout each);
  #   10 at a time; 50 s < 60 s ack deadline.
  # - reminders: one tick at a time (the sweeps page through all due work), 170 s < 180 s.
  run_settings = {
    bookings  = { concurrency = 40, timeout_seconds = 30 }
    connect   = { concurrency = 40, timeout_seconds = 30 }
    meetings  = { concurrency = 10, timeout_seconds = 50 }
    notify    = { concurrency = 10, timeout_seconds = 50 }
    reminders = { concurrency = 1, timeout_seconds = 170 }
  }

  # Secret Manager secret id => services whose accounts may read it. Declared here once: the
  # secret containers, the per-secret accessor grants and the unit tests all derive from it.
  # TOKEN_ENCRYPTION_KEYS seals creators' OAuth tokens; MANAGE_TOKEN_KEYS seals fans' manage tokens,
  # which notify and reminders decrypt for the emails' manage links, so they never hold the key to
  # a creator's refresh token. bookings reads Google tokens (busy times) and seals manage tokens.
  # reminders' tick refreshes creators' tokens ahead of expiry, so it holds the OAuth clients and
  # TOKEN_ENCRYPTION_KEYS too; notify never does. connect's test booking seals a manage token.
  secret_readers = {
    ZOOM_CLIENT_ID        = ["connect", "meetings", "reminders"]
    ZOOM_CLIENT_SECRET    = ["connect", "meetings", "reminders"]
    ZOOM_WEBHOOK_SECRET   = ["connect"]
    GOOGLE_CLIENT_ID      = ["connect", "meetings", "bookings", "reminders"]
    GOOGLE_CLIENT_SECRET  = ["connect", "meetings", "bookings", "reminders"]
    TOKEN_ENCRYPTION_KEYS = ["connect", "meetings", "bookings", "reminders"]
    MANAGE_TOKEN_KEYS     = ["bookings", "connect", "notify", "reminders"]
    OAUTH_STATE_SECRET    = ["connect"]
    SMTP_PASSWORD         = ["notify", "reminders"]
  }

  secret_grants = merge([
    for secret, readers in local.secret_readers : {
      for service in readers : "${secret}/${service}" => { secret = secret, service = service }
    }
  ]...)

  # Service => topics it publishes to in production. bookings also publishes payment-events, but
  # only through the local dev route that stands in for Flo Payments, so it gets no grant here.
  topic_publishers = {
    bookings  = ["booking-events", "refund-requests"]
    connect   = ["booking-events"] # the creator's test booking
    meetings  = ["link-events"]
    reminders = ["booking-events"]
  }

  publisher_grants = merge([
    for service, topics in local.topic_publishers : {
      for topic in topics : "${topic}/${service}" => { topic = topic, service = service }
    }
  ]...)

  # Project-level roles every service account gets; everything else is granted per resource.
  service_project_roles = ["roles/datastore.user", "roles/logging.logWriter"]

  service_role_grants = merge([
    for service in keys(local.topology.services) : {
      for role in local.service_project_roles : "${service}/${role}" => { service = service, role = role }
    }
  ]...)

  # Audience of the OIDC tokens that Pub/Sub push and Cloud Scheduler send to a service. It is a
  # name registered as a Cloud Run custom audience, not the run.app URL, so the service's own URL
  # never feeds back into its configuration (no dependency cycle) and it survives re-creation.
  oidc_audience = {
    for service in keys(local.topology.services) : service => "https://${var.domain}/services/${service}"
  }

  oidc_service_accounts = join(",", [
    google_service_account.pubsub_push.email,
    google_service_account.scheduler.email,
  ])

  # Contract environment shared by every service; provider URLs only when overridden (defaults in code).
  common_env = merge(
    {
      FLO_ENV               = "production"
      FLO_BASE_URL          = "https://${var.domain}"
      GOOGLE_CLOUD_PROJECT  = var.project_id
      MAIL_FROM             = var.mail_from
      SMTP_HOST             = var.smtp_host
      SMTP_PORT             = tostring(var.smtp_port)
      SMTP_USERNAME         = var.smtp_username
      OIDC_SERVICE_ACCOUNTS = local.oidc_service_accounts
    },
    var.provider_url_overrides,
  )

  image_base = "${var.region}-docker.pkg.dev/${var.project_id}/${var.artifact_repository_id}"

  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  apis = [
    "artifactregistry.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "identitytoolkit.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
  ]
}
