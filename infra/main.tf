# flowbricks on Azure: a Go custom handler behind an HTTP-triggered Function App, its identities
# and app registrations, Easy Auth in front, monitoring, and an optional sample Logic App.
# docs/deploy.md walks through using it. No secret is created anywhere: the Function App's
# user-assigned managed identity is both its storage credential and, as a federated credential,
# the confidential-client credential of the flowbricks API app registration.

data "azurerm_client_config" "current" {}

data "azuread_client_config" "current" {}

resource "random_string" "suffix" {
  length  = 6
  upper   = false
  special = false
}

resource "azurerm_resource_group" "main" {
  name     = local.resource_group_name
  location = var.location
  tags     = var.tags
}

resource "azurerm_log_analytics_workspace" "main" {
  name                = "log-${var.name_prefix}-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

resource "azurerm_application_insights" "main" {
  name                = "appi-${var.name_prefix}-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  workspace_id        = azurerm_log_analytics_workspace.main.id
  application_type    = "web"
  retention_in_days   = var.log_retention_days
  # Ingestion only with an Entra token (the Function App's managed identity, see
  # APPLICATIONINSIGHTS_AUTHENTICATION_STRING): the instrumentation key in the connection string
  # alone cannot be used to send telemetry.
  local_authentication_disabled = true
  tags                          = var.tags
}
