resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83:Messages carry only booking ids and revisions, no personal data; Google-managed encryption is enough.
  for_each = local.topology.topics

  name = each.key
  labels = {
    declared-in = "topology"
  }

  depends_on = [google_project_service.enabled]
}

# "<subscription>-dead-letter": where a push subscription parks a message after its max attempts.
resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Dead letters are copies of the messages above (ids and revisions only); Google-managed encryption is enough.
  for_each = local.subscriptions

  name = "${each.key}-dead-letter"

  depends_on = [google_project_service.enabled]
}

# Push subscriptions: endpoint = the target service's URL + path, OIDC-signed by the push account,
# retry and dead-letter policies from the topology (retry_defaults unless the subscription overrides).
resource "google_pubsub_subscription" "push" {
  for_each = local.subscriptions

  name                 = each.key
  topic                = google_pubsub_topic.topic[each.value.topic].id
  ack_deadline_seconds = each.value.ack_deadline_seconds

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.service[each.value.service].uri}${each.value.path}"

    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = local.oidc_audience[each.value.service]
    }
  }

  retry_policy {
    minimum_backoff = "${each.value.minimum_backoff_seconds}s"
    maximum_backoff = "${each.value.maximum_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = each.value.max_delivery_attempts
  }

  # Without this a subscription that sees no traffic for 31 days is deleted.
  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.pubsub_push_invoker,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}

# "<subscription>-dead-letter-sub": pull subscription the engineer on call reads dead letters from.
resource "google_pubsub_subscription" "dead_letter" {
  for_each = local.subscriptions

  name                       = "${each.key}-dead-letter-sub"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the dead-letter topic and
# acknowledge (subscribe to) the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.subscriptions

  topic  = google_pubsub_topic.dead_letter[each.key].id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_source_subscriber" {
  for_each = local.subscriptions

  subscription = google_pubsub_subscription.push[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
