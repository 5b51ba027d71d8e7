terraform {
  # 1.6+ for the validation and precondition features used here; CI pins the exact binary. The
  # provider versions chosen are recorded in .terraform.lock.hcl (see README.md).
  required_version = ">= 1.6.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
  }

  # Partial configuration: bucket and prefix come from `terraform init -backend-config=backend.hcl`
  # (see backend.hcl.example) so one configuration serves every environment.
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app        = "flo-integrations"
    managed-by = "terraform"
  }
}

data "google_project" "this" {
  project_id = var.project_id
}
