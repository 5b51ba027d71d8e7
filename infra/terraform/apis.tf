resource "google_project_service" "enabled" {
  for_each = toset(local.apis)

  service = each.value
  # Other workloads in the project may rely on these APIs; destroying this stack must not turn them off.
  disable_on_destroy = false
}
