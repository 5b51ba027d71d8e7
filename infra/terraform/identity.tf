# Creators sign in with Identity Platform; the bookings and connect services verify its ID tokens
# (shared/auth.py: issuer https://securetoken.google.com/<project>, audience the project id).
resource "google_identity_platform_config" "default" {
  project                    = var.project_id
  authorized_domains         = [var.domain]
  autodelete_anonymous_users = true

  sign_in {
    allow_duplicate_emails = false

    email {
      enabled           = true
      password_required = true
    }
  }

  depends_on = [google_project_service.enabled]
}
