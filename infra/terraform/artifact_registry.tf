resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Images hold code only, no secrets or user data; Google-managed encryption at rest is enough.
  location      = var.region
  repository_id = var.artifact_repository_id
  format        = "DOCKER"
  description   = "Container images of the integrations services, one image per service tagged with the commit SHA."

  # Every push adds five images; keep the recent ones (what runs and what a rollback needs) and delete
  # the rest once they are old. KEEP wins over DELETE, so a deployed recent image is never removed.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.images_kept_per_service
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "${var.image_retention_days * 86400}s"
    }
  }

  depends_on = [google_project_service.enabled]
}
