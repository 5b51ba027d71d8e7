output "load_balancer_ip" {
  description = "IPv4 address for the domain's DNS A record (the managed certificate is issued once it resolves here)."
  value       = google_compute_global_address.lb.address
}

output "base_url" {
  description = "FLO_BASE_URL given to every service."
  value       = "https://${var.domain}"
}

output "service_urls" {
  description = "run.app URL of each Cloud Run service (reachable only from inside the project or through the load balancer)."
  value       = { for name, service in google_cloud_run_v2_service.service : name => service.uri }
}

output "service_account_emails" {
  description = "Runtime service account of each Cloud Run service."
  value       = { for name, account in google_service_account.service : name => account.email }
}

output "oidc_service_accounts" {
  description = "Accounts whose OIDC tokens the services accept (OIDC_SERVICE_ACCOUNTS)."
  value = {
    pubsub_push = google_service_account.pubsub_push.email
    scheduler   = google_service_account.scheduler.email
  }
}

output "image_repository" {
  description = "Artifact Registry path that Cloud Build pushes <service>:<commit SHA> images to."
  value       = local.image_base
}

output "dead_letter_subscriptions" {
  description = "Pull subscriptions holding messages that exhausted their delivery attempts, by source subscription."
  value       = { for name, sub in google_pubsub_subscription.dead_letter : name => sub.name }
}

output "secret_ids" {
  description = "Secret Manager secrets whose values must be added (gcloud secrets versions add) before the services can start work."
  value       = sort(keys(google_secret_manager_secret.secret))
}
