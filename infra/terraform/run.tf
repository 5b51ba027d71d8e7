# One Cloud Run service per service of shared/topology.yaml, all from the same Dockerfile (SERVICE
# build argument) and each running as its own service account.
#
# Ingress: a service with routes on the load balancer uses INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER,
# any other uses INGRESS_TRAFFIC_INTERNAL_ONLY. Neither shuts out Pub/Sub push or Cloud Scheduler:
# Cloud Run counts their requests as internal when they come from the same project (or VPC-SC
# perimeter) and call the run.app URL, as the subscriptions and jobs here do; they still need
# run.invoker plus a token the app verifies (shared/oidc.py).
# INGRESS_TRAFFIC_ALL is not used because it would publish the run.app URL, including machine-only
# paths such as /tasks/ and /pubsub/, beside the load balancer's path map.
resource "google_cloud_run_v2_service" "service" {
  for_each = local.topology.services

  name                = each.key
  location            = var.region
  description         = each.value.description
  ingress             = contains(local.public_services, each.key) ? "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" : "INGRESS_TRAFFIC_INTERNAL_ONLY"
  custom_audiences    = [local.oidc_audience[each.key]]
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.service[each.key].email
    max_instance_request_concurrency = local.run_settings[each.key].concurrency
    timeout                          = "${local.run_settings[each.key].timeout_seconds}s"

    scaling {
      min_instance_count = coalesce(try(var.scaling_overrides[each.key].min_instances, null), var.min_instances)
      max_instance_count = coalesce(try(var.scaling_overrides[each.key].max_instances, null), var.max_instances)
    }

    containers {
      image = "${local.image_base}/${each.key}@${try(var.image_digests[each.key], "")}"

      ports {
        container_port = 8080
      }

      # Cloud Run calls these on the container itself, past ingress and IAM, so no health route needs
      # to be public. The first /health builds the app (clients, secrets): a revision whose
      # configuration or secrets are wrong never becomes ready and the deploy fails instead.
      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = 3
        timeout_seconds       = 3
        failure_threshold     = 20
        http_get {
          path = "/health"
          port = 8080
        }
      }

      liveness_probe {
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
        http_get {
          path = "/health"
          port = 8080
        }
      }

      resources {
        limits = {
          cpu    = "1"
          memory = var.container_memory
        }
        cpu_idle = true
      }

      dynamic "env" {
        for_each = merge(local.common_env, { OIDC_AUDIENCE = local.oidc_audience[each.key] })
        content {
          name  = env.key
          value = env.value
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = contains(keys(var.image_digests), each.key)
      error_message = "image_digests has no digest for service ${each.key}; Cloud Build passes one per service of shared/topology.yaml."
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.service,
    google_secret_manager_secret_iam_member.reader,
  ]
}
