# Host storage of the Function App (keys, leases, diagnostics), reached with the managed identity
# only: shared keys are disabled, so no connection string exists that could leak.
resource "azurerm_storage_account" "host" {
  name                            = local.storage_account_name
  resource_group_name             = azurerm_resource_group.main.name
  location                        = azurerm_resource_group.main.location
  account_kind                    = "StorageV2"
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  allow_nested_items_to_be_public = false
  tags                            = var.tags
}

# Elastic Premium only: the private container the app runs its package from (variables.tf,
# hosting_plan_sku). The app reads it with its managed identity (Storage Blob Data Owner above).
resource "azurerm_storage_container" "package" {
  count                 = local.plan_is_elastic ? 1 : 0
  name                  = local.package_container
  storage_account_id    = azurerm_storage_account.host.id
  container_access_type = "private"
}

# ... and whoever runs Terraform may upload new packages to it (docs/deploy.md). The role is
# given on the account: it holds nothing but this app's host data and packages.
resource "azurerm_role_assignment" "deployer_package" {
  count                = local.plan_is_elastic ? 1 : 0
  scope                = azurerm_storage_account.host.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = data.azurerm_client_config.current.object_id
}
