# Secret containers only: values are added out of band (gcloud secrets versions add), never in
# Terraform state. Services read them at run time through shared/secrets.py.
resource "google_secret_manager_secret" "secret" {
  for_each = local.secret_readers

  secret_id = each.key

  # Kept in the services' region, with the rest of the data, rather than wherever Google chooses.
  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

# Accessor per secret, to exactly the services listed in local.secret_readers.
resource "google_secret_manager_secret_iam_member" "reader" {
  for_each = local.secret_grants

  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.service[each.value.service].member
}
