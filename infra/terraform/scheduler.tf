# Cloud Scheduler jobs of shared/topology.yaml: POST to the target service's URL + path with an
# OIDC token from the scheduler account (run.invoker on the target services only).
resource "google_cloud_scheduler_job" "job" {
  for_each = local.topology.scheduler

  name             = each.key
  region           = var.region
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "180s"

  http_target {
    http_method = "POST"
    uri         = "${google_cloud_run_v2_service.service[each.value.service].uri}${each.value.path}"

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = local.oidc_audience[each.value.service]
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_cloud_run_v2_service_iam_member.scheduler_invoker,
  ]
}
