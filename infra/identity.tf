# The Function App's user-assigned managed identity. It is
# - the credential of host storage (AzureWebJobsStorage__credential/__clientId),
# - the credential for Application Insights ingestion, and
# - the federated credential of the flowbricks API app registration (entra.tf): the handler asks
#   it for a token for api://AzureADTokenExchange and presents that as its client assertion in
#   the On-Behalf-Of and client-credentials requests. Only a user-assigned identity can be a
#   federated credential of an app registration; a system-assigned one cannot.
resource "azurerm_user_assigned_identity" "api" {
  name                = "id-${var.name_prefix}-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  tags                = var.tags
}

# Host storage with the identity (the roles Microsoft's identity-based host storage guidance uses).
resource "azurerm_role_assignment" "api_storage" {
  for_each = toset([
    "Storage Blob Data Owner",
    "Storage Queue Data Contributor",
    "Storage Table Data Contributor",
  ])
  scope                = azurerm_storage_account.host.id
  role_definition_name = each.value
  principal_id         = azurerm_user_assigned_identity.api.principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "api_monitoring" {
  scope                = azurerm_application_insights.main.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = azurerm_user_assigned_identity.api.principal_id
  principal_type       = "ServicePrincipal"
}
