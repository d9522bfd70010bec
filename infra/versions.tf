terraform {
  # 1.6: the oldest release whose language features this configuration uses (and still supported
  # by the providers below).
  required_version = ">= 1.6"

  required_providers {
    # The lowest minor release of each provider is the one every argument and block name here was
    # checked against (schema/providers.json; infra_test.go checks it): no older release, which
    # may lack a name, and no other major one. Moving it means regenerating that file.
    # azurerm 4.x names are used throughout (https_traffic_only_enabled, storage_account_id on
    # containers, the storage.data_plane_available feature). Do not move to 5.x without reading its
    # upgrade guide.
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.55"
    }
    # azuread 3.x names are used throughout: client_id (not application_id),
    # application_id = <resource id> on the application sub-resources, authorized_client_id.
    azuread = {
      source  = "hashicorp/azuread"
      version = "~> 3.7"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}
