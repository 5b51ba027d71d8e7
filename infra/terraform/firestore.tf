resource "google_firestore_database" "main" {
  name                    = "(default)"
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # Terraform never deletes the data; destroy only forgets the database.
  deletion_policy = "ABANDON"
  # Reads of any version of the last 7 days, to undo a bad write or a bug's damage.
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"

  depends_on = [google_project_service.enabled]
}

# Firestore's managed scheduled export: a daily backup of the whole database, kept for
# var.firestore_backup_retention_days, restorable into a new database.
resource "google_firestore_backup_schedule" "daily" {
  database  = google_firestore_database.main.name
  retention = "${var.firestore_backup_retention_days * 86400}s"

  daily_recurrence {}
}

locals {
  # Composite indexes the services' queries need, and no others: tests/unit/test_firestore_indexes.py
  # reads every query in the code and fails when one lacks its index or an index serves no query.
  # Single-field and equality-only queries use Firestore's automatic single-field indexes, none of
  # which is exempted. Key => collection and ordered fields.
  firestore_indexes = {
    # Slots (creator_id == and start <) and the creator's bookings list (creator_id ==, ordered by start).
    bookings-creator-start = {
      collection = "bookings"
      fields     = [["creator_id", "ASCENDING"], ["start", "ASCENDING"]]
    }
  }

  # Short-lived collections whose documents Firestore deletes once their expires_at has passed:
  # OAuth states (10 minutes), refresh leases (seconds), hold release markers (a day) and email
  # records (past the longest booking horizon). Each of them writes expires_at on every document.
  ttl_collections = toset(["oauth_states", "leases", "hold_releases", "emails"])
}

resource "google_firestore_index" "composite" {
  for_each = local.firestore_indexes

  database    = google_firestore_database.main.name
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}

resource "google_firestore_field" "expires_at_ttl" {
  for_each = local.ttl_collections

  database   = google_firestore_database.main.name
  collection = each.value
  field      = "expires_at"

  ttl_config {}

  # No single-field indexes on the TTL timestamp: nothing queries it, and a monotonically growing
  # indexed timestamp causes write hotspots.
  index_config {}
}
