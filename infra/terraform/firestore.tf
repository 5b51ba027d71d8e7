resource "google_firestore_database" "main" {
  name                    = "(default)"
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # Terraform never deletes the data; destroy only forgets the database.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.enabled]
}

locals {
  # Composite indexes the services' queries need. Single-field queries (bookings.next_reminder_at,
  # mail_due_at, hold_expires_at, manage_token_hash, link_nudge_at; outbox.created_at) use Firestore's
  # automatic single-field indexes, none of which is exempted. Key => collection and ordered fields.
  firestore_indexes = {
    # The slots route: the creator's bookings starting in the window (or up to a day before it).
    bookings-creator-start = {
      collection = "bookings"
      fields     = [["creator_id", "ASCENDING"], ["start", "ASCENDING"]]
    }
    # GET /api/bookings in pages: upcoming soonest end first, past newest end first.
    bookings-creator-end = {
      collection = "bookings"
      fields     = [["creator_id", "ASCENDING"], ["end", "ASCENDING"]]
    }
    bookings-creator-end-desc = {
      collection = "bookings"
      fields     = [["creator_id", "ASCENDING"], ["end", "DESCENDING"]]
    }
    bookings-status-next-reminder = {
      collection = "bookings"
      fields     = [["status", "ASCENDING"], ["next_reminder_at", "ASCENDING"]]
    }
    bookings-link-status-updated = {
      collection = "bookings"
      fields     = [["link_status", "ASCENDING"], ["updated_at", "ASCENDING"]]
    }
    # The link sweep republishes bookings whose link is still pending past their deadline.
    bookings-status-link-deadline = {
      collection = "bookings"
      fields     = [["status", "ASCENDING"], ["link_deadline_at", "ASCENDING"]]
    }
    bookings-link-status-link-deadline = {
      collection = "bookings"
      fields     = [["link_status", "ASCENDING"], ["link_deadline_at", "ASCENDING"]]
    }
    emails-state-created = {
      collection = "emails"
      fields     = [["state", "ASCENDING"], ["created_at", "ASCENDING"]]
    }
  }

  # Collections whose documents Firestore deletes once their expires_at timestamp has passed.
  ttl_collections = toset(["oauth_states", "slot_holds", "busy_cache"])
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
