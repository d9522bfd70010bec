provider "azurerm" {
  subscription_id = var.subscription_id

  # The storage account refuses shared keys (no secret anywhere). Terraform therefore talks to it
  # with Entra ID, and only through Azure Resource Manager: containers are created by
  # storage_account_id and the provider's data-plane probes are switched off.
  storage_use_azuread = true

  features {
    storage {
      data_plane_available = false
    }
    resource_group {
      # Application Insights creates a "Failure Anomalies" smart detector alert rule in the
      # resource group by itself; with this left at true, `terraform destroy` would stop at that
      # rule. The resource group is this deployment's own (random suffix): keep nothing else in it.
      prevent_deletion_if_contains_resources = false
    }
  }
}

# The tenant is the one of the signed-in Azure CLI account (or ARM_TENANT_ID).
provider "azuread" {}
