terraform {
  # 1.6: the oldest release whose language features this configuration uses (and still supported
  # by the providers below).
  required_version = ">= 1.6"

  required_providers {
    # azurerm 4.x names are used throughout (https_traffic_only_enabled, storage_account_id on
    # containers, the storage.data_plane_available feature); 4.40 is a release known to have all of
    # them. Do not move to 5.x without reading its upgrade guide.
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.40"
    }
    # azuread 3.x names are used throughout: client_id (not application_id),
    # application_id = <resource id> on the application sub-resources, authorized_client_id.
    azuread = {
      source  = "hashicorp/azuread"
      version = "~> 3.1"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}
