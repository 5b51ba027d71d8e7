# External HTTPS load balancer: one domain, the public routes of shared/topology.yaml as its path
# map. public: false routes (for example /tasks/) are left off; their callers use the run.app URL.

locals {
  # A prefix ending in "/" matches everything under it; one without also matches itself exactly,
  # as the local stack's prefix match does (/api/offers and /api/offers/...).
  public_route_paths = [
    for route in local.public_routes : {
      service = route.service
      paths   = endswith(route.prefix, "/") ? ["${route.prefix}*"] : [route.prefix, "${route.prefix}/*"]
    }
  ]

  # A backend the default route names but never reaches: its fault injection answers 404 to every
  # path no public route matches, so unknown paths (/tasks/, /pubsub/, scans) never reach a service.
  lb_default_service = local.public_routes[0].service
}

resource "google_compute_global_address" "lb" {
  name = "flo-integrations-lb"

  depends_on = [google_project_service.enabled]
}

resource "google_compute_region_network_endpoint_group" "service" {
  for_each = local.public_services

  name                  = "flo-${each.value}-neg"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloud_run_v2_service.service[each.value].name
  }
}

resource "google_compute_backend_service" "service" {
  for_each = local.public_services

  name                  = "flo-${each.value}-backend"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = google_compute_security_policy.edge.id

  log_config {
    enable      = true
    sample_rate = 1.0
  }

  backend {
    group = google_compute_region_network_endpoint_group.service[each.value].id
  }
}

resource "google_compute_url_map" "https" {
  name = "flo-integrations-https"

  # Other host names (the bare IP, guesses) get the same 404.
  default_route_action {
    weighted_backend_services {
      backend_service = google_compute_backend_service.service[local.lb_default_service].id
      weight          = 100
    }
    fault_injection_policy {
      abort {
        http_status = 404
        percentage  = 100
      }
    }
  }

  host_rule {
    hosts        = [var.domain]
    path_matcher = "routes"
  }

  path_matcher {
    name = "routes"

    default_route_action {
      weighted_backend_services {
        backend_service = google_compute_backend_service.service[local.lb_default_service].id
        weight          = 100
      }
      fault_injection_policy {
        abort {
          http_status = 404
          percentage  = 100
        }
      }
    }

    dynamic "path_rule" {
      for_each = local.public_route_paths
      content {
        paths   = path_rule.value.paths
        service = google_compute_backend_service.service[path_rule.value.service].id
      }
    }
  }
}

resource "google_compute_managed_ssl_certificate" "lb" {
  name = "flo-integrations-cert"

  managed {
    domains = [var.domain]
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.enabled]
}

# TLS 1.2 and later with the MODERN cipher profile (forward-secret AEAD ciphers only).
resource "google_compute_ssl_policy" "modern" {
  name            = "flo-integrations-modern"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"

  depends_on = [google_project_service.enabled]
}

resource "google_compute_target_https_proxy" "lb" {
  name             = "flo-integrations-https"
  url_map          = google_compute_url_map.https.id
  ssl_certificates = [google_compute_managed_ssl_certificate.lb.id]
  ssl_policy       = google_compute_ssl_policy.modern.id
}

# Cloud Armor on every public backend: a per-client (IP) rate limit, so one client cannot spend the
# public routes' cost (slot computation, bookings, OAuth starts) for everyone. Over the limit a
# client gets 429 until its rate falls back under it. The local stack's gateway has its own limiter.
resource "google_compute_security_policy" "edge" {
  name        = "flo-integrations-edge"
  description = "Per-client rate limit in front of the public routes."
  type        = "CLOUD_ARMOR"

  rule {
    action      = "throttle"
    priority    = 1000
    description = "At most var.rate_limit_requests_per_minute requests per client IP per minute."
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.rate_limit_requests_per_minute
        interval_sec = 60
      }
    }
  }

  # Requests carrying a Log4j JNDI lookup (CVE-2021-44228) are refused before any backend sees them.
  rule {
    action      = "deny(403)"
    priority    = 2000
    description = "Log4j exploit attempts (CVE-2021-44228)."
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('cve-canary')"
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Everything under the rate limit."
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_compute_global_forwarding_rule" "https" {
  name                  = "flo-integrations-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.lb.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.lb.id
}

# Plain HTTP only redirects to HTTPS, keeping the query string.
resource "google_compute_url_map" "http_redirect" {
  name = "flo-integrations-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  name    = "flo-integrations-http-redirect"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  name                  = "flo-integrations-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.lb.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect.id
}
