# One identity per Cloud Run service, so each gets only the roles and secrets it needs.
resource "google_service_account" "service" {
  for_each = local.topology.services

  account_id   = "run-${each.key}"
  display_name = "Cloud Run service ${each.key}"
  description  = each.value.description

  depends_on = [google_project_service.enabled]
}

# Identity in the OIDC tokens that Pub/Sub attaches to push requests.
resource "google_service_account" "pubsub_push" {
  account_id   = "pubsub-push-invoker"
  display_name = "Pub/Sub push invoker"
  description  = "Signs the OIDC tokens of Pub/Sub push deliveries to the Cloud Run services."

  depends_on = [google_project_service.enabled]
}

# Identity in the OIDC tokens that Cloud Scheduler attaches to its HTTP calls.
resource "google_service_account" "scheduler" {
  account_id   = "scheduler-invoker"
  display_name = "Cloud Scheduler invoker"
  description  = "Signs the OIDC tokens of the Cloud Scheduler jobs of shared/topology.yaml."

  depends_on = [google_project_service.enabled]
}

# Firestore access and log writing are the only project-level roles a service gets.
resource "google_project_iam_member" "service" {
  for_each = local.service_role_grants

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.service[each.value.service].member
}

# Publisher on exactly the topics a service publishes to, not project-wide.
resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.publisher_grants

  topic  = google_pubsub_topic.topic[each.value.topic].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.service[each.value.service].member
}

# Pub/Sub may push only to the services that have a subscription.
resource "google_cloud_run_v2_service_iam_member" "pubsub_push_invoker" {
  for_each = toset([for sub in values(local.subscriptions) : sub.service])

  name     = google_cloud_run_v2_service.service[each.value].name
  location = var.region
  role     = "roles/run.invoker"
  member   = google_service_account.pubsub_push.member
}

# Cloud Scheduler may invoke only the services its jobs target (reminders).
resource "google_cloud_run_v2_service_iam_member" "scheduler_invoker" {
  for_each = toset([for job in values(local.topology.scheduler) : job.service])

  name     = google_cloud_run_v2_service.service[each.value].name
  location = var.region
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# The load balancer forwards browsers' requests without Google credentials, so only the services
# with public routes (bookings, connect) accept unauthenticated invocations; their ingress setting
# keeps the run.app URL off the internet, and their machine-only paths are not on the load balancer
# and verify OIDC in the app (shared/oidc.py). The workers (meetings, notify, reminders) get no
# allUsers grant: only the push and scheduler accounts above may invoke them.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  for_each = local.public_services

  name     = google_cloud_run_v2_service.service[each.value].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Pub/Sub's service agent mints the push OIDC tokens as the push account. Projects created after
# April 2021 grant this implicitly; older projects need it, so it is declared for both.
resource "google_service_account_iam_member" "pubsub_agent_token_creator" {
  service_account_id = google_service_account.pubsub_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}
