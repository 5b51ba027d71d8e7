resource "google_artifact_registry_repository" "images" {
  location      = var.region
  repository_id = var.artifact_repository_id
  format        = "DOCKER"
  description   = "Container images of the integrations services, one image per service tagged with the commit SHA."

  depends_on = [google_project_service.enabled]
}
