variable "project_id" {
  description = "Google Cloud project id that hosts every resource of the integrations backend."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits or hyphens)."
  }
}

variable "region" {
  description = "Region for Cloud Run, Artifact Registry, the serverless NEGs and Cloud Scheduler."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}

variable "firestore_location" {
  description = "Firestore location (a region such as europe-west1 or a multi-region such as eur3). Cannot change after creation."
  type        = string
  default     = "eur3"

  validation {
    condition     = can(regex("^([a-z]+-[a-z]+[0-9]|nam[0-9]+|eur[0-9]+)$", var.firestore_location))
    error_message = "firestore_location must be a Firestore region or multi-region (for example eur3, nam5, europe-west1)."
  }
}

variable "domain" {
  description = "Public domain served by the load balancer (no scheme). FLO_BASE_URL is https://<domain>; its DNS A record must point at the load_balancer_ip output for the managed certificate to be issued."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lowercase host name such as book.flo.example, without scheme or path."
  }
}

variable "artifact_repository_id" {
  description = "Artifact Registry Docker repository id; images are <region>-docker.pkg.dev/<project>/<repository>/<service>:<tag>."
  type        = string
  default     = "flo-integrations"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.artifact_repository_id))
    error_message = "artifact_repository_id must start with a letter and contain only lowercase letters, digits and hyphens."
  }
}

variable "image_digests" {
  description = "Image digest (sha256:...) per service of shared/topology.yaml: Cloud Build passes the digest of each image it built and tested, so what is deployed is exactly that image."
  type        = map(string)

  validation {
    condition     = alltrue([for digest in values(var.image_digests) : can(regex("^sha256:[0-9a-f]{64}$", digest))])
    error_message = "Every image digest must be sha256: followed by 64 lowercase hex digits."
  }
}

variable "min_instances" {
  description = "Minimum Cloud Run instances per service (0 lets idle services scale to zero)."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number >= 0."
  }
}

variable "max_instances" {
  description = "Maximum Cloud Run instances per service; bounds cost and the load put on Zoom, Google and SMTP."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number >= 1."
  }
}

variable "scaling_overrides" {
  description = "Per-service overrides of min_instances / max_instances, keyed by service name."
  type = map(object({
    min_instances = optional(number)
    max_instances = optional(number)
  }))
  default = {}

  validation {
    condition = alltrue([
      for s in values(var.scaling_overrides) :
      (s.min_instances == null ? true : s.min_instances >= 0) && (s.max_instances == null ? true : s.max_instances >= 1)
    ])
    error_message = "Overrides need min_instances >= 0 and max_instances >= 1."
  }
}

variable "container_memory" {
  description = "Memory limit of every service's container."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.container_memory))
    error_message = "container_memory must look like 512Mi or 1Gi."
  }
}

variable "mail_from" {
  description = "MAIL_FROM: the From address of every email (for example \"Flo <sessions@flo.example>\")."
  type        = string

  validation {
    condition     = can(regex("@", var.mail_from))
    error_message = "mail_from must contain an email address."
  }
}

variable "smtp_host" {
  description = "SMTP_HOST: outgoing mail relay host name."
  type        = string

  validation {
    condition     = length(trimspace(var.smtp_host)) > 0
    error_message = "smtp_host must not be empty."
  }
}

variable "smtp_port" {
  description = "SMTP_PORT: outgoing mail relay port (587 for STARTTLS, 465 for implicit TLS)."
  type        = number
  default     = 587

  validation {
    condition     = var.smtp_port >= 1 && var.smtp_port <= 65535 && floor(var.smtp_port) == var.smtp_port
    error_message = "smtp_port must be a TCP port number (1-65535)."
  }
}

variable "smtp_username" {
  description = "SMTP_USERNAME: relay login. The password is the SMTP_PASSWORD secret, never a variable."
  type        = string
}

variable "provider_url_overrides" {
  description = "Provider URL environment variables to set only when production must differ from the defaults in code (for example ZOOM_API_URL)."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for name, url in var.provider_url_overrides :
      contains([
        "ZOOM_AUTHORIZE_URL", "ZOOM_TOKEN_URL", "ZOOM_REVOKE_URL", "ZOOM_API_URL",
        "GOOGLE_AUTHORIZE_URL", "GOOGLE_TOKEN_URL", "GOOGLE_REVOKE_URL", "GOOGLE_USERINFO_URL",
        "GOOGLE_CALENDAR_API_URL",
      ], name) && startswith(url, "https://")
    ])
    error_message = "Keys must be provider URL variables of the contract (ZOOM_*_URL, GOOGLE_*_URL) and values https:// URLs."
  }
}

variable "scheduler_time_zone" {
  description = "Time zone in which the Cloud Scheduler cron expressions of shared/topology.yaml are read."
  type        = string
  default     = "Etc/UTC"
}

variable "deletion_protection" {
  description = "Protect the Cloud Run services and the Firestore database against terraform destroy."
  type        = bool
  default     = true
}

variable "rate_limit_requests_per_minute" {
  description = "Cloud Armor's per-client limit on the load balancer: requests per client IP per minute before it answers 429."
  type        = number
  default     = 300

  validation {
    condition     = var.rate_limit_requests_per_minute >= 10 && floor(var.rate_limit_requests_per_minute) == var.rate_limit_requests_per_minute
    error_message = "rate_limit_requests_per_minute must be a whole number >= 10."
  }
}

variable "firestore_backup_retention_days" {
  description = "Days each daily Firestore backup (scheduled export) is kept; Firestore allows at most 14 weeks."
  type        = number
  default     = 14

  validation {
    condition     = var.firestore_backup_retention_days >= 1 && var.firestore_backup_retention_days <= 98
    error_message = "firestore_backup_retention_days must be between 1 and 98."
  }
}

variable "images_kept_per_service" {
  description = "Artifact Registry cleanup: the most recent image versions always kept per service, whatever their age."
  type        = number
  default     = 20

  validation {
    condition     = var.images_kept_per_service >= 2
    error_message = "images_kept_per_service must be at least 2 (the running image and one to roll back to)."
  }
}

variable "image_retention_days" {
  description = "Artifact Registry cleanup: images older than this are deleted unless they are among the most recent kept."
  type        = number
  default     = 30

  validation {
    condition     = var.image_retention_days >= 1
    error_message = "image_retention_days must be at least 1."
  }
}
