output "resource_group_name" {
  description = "Resource group holding every Azure resource of this deployment."
  value       = azurerm_resource_group.main.name
}

output "function_app_name" {
  description = "Name of the Function App (for az functionapp commands)."
  value       = azurerm_linux_function_app.api.name
}

output "api_base_url" {
  description = "Base URL of the flowbricks API; every route is under it (e.g. <api_base_url>/jobs)."
  value       = local.api_base_url
}

output "tenant_id" {
  description = "Entra ID tenant of the app registrations."
  value       = local.tenant_id
}

output "api_client_id" {
  description = "Application (client) id of the flowbricks API app registration (AZURE_CLIENT_ID). In Databricks, app-only calls appear as this service principal."
  value       = azuread_application.api.client_id
}

output "api_app_id_uri" {
  description = "App ID URI of the API: the resource/audience clients ask tokens for."
  value       = local.api_app_id_uri
}

output "api_scope" {
  description = "The delegated scope flows request."
  value       = "${local.api_app_id_uri}/${local.api_scope}"
}

output "api_app_role" {
  description = "The app role app-only callers (e.g. a Logic App managed identity) must be assigned."
  value       = local.app_role
}

output "client_apps" {
  description = "Client applications whose delegated tokens flowbricks accepts (FLOWBRICKS_CLIENT_APPS): the connector, the Azure CLI while preauthorize_azure_cli is on, and client_apps."
  value       = local.client_apps
}

output "managed_identity_client_id" {
  description = "Client id of the Function App's user-assigned managed identity (FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID)."
  value       = azurerm_user_assigned_identity.api.client_id
}

output "connector_client_id" {
  description = "Application (client) id of the custom connector's app registration."
  value       = azuread_application.connector.client_id
}

output "connector_api_properties" {
  description = "Values for connector/apiProperties.json (connectionParameters) and the OpenAPI host/basePath. Print with: terraform output -json connector_api_properties"
  value = {
    host     = azurerm_linux_function_app.api.default_hostname
    basePath = "/api"
    connectionParameters = {
      token = {
        type = "oauthSetting"
        oAuthSettings = {
          identityProvider = "aad"
          clientId         = azuread_application.connector.client_id
          scopes           = ["${local.api_app_id_uri}/${local.api_scope}"]
          redirectMode     = "GlobalPerConnector"
          redirectUrl      = var.connector_redirect_uris[0]
          properties = {
            IsFirstParty                   = "False"
            AzureActiveDirectoryResourceId = local.api_app_id_uri
            IsOnbehalfofLoginSupported     = true
          }
          customParameters = {
            loginUri              = { value = local.entra_login_host }
            tenantId              = { value = local.tenant_id }
            resourceUri           = { value = local.api_app_id_uri }
            enableOnbehalfOfLogin = { value = "false" }
          }
        }
      }
    }
  }
}

output "deploy_commands" {
  description = "How to put dist/flowbricks.zip (go run ./tools/package) on this Function App's plan."
  value = local.plan_is_elastic ? join("\n", [
    "az storage blob upload --auth-mode login --account-name ${azurerm_storage_account.host.name} --container-name ${local.package_container} --name ${local.package_blob} --file dist/flowbricks.zip --overwrite",
    "az functionapp restart --resource-group ${azurerm_resource_group.main.name} --name ${azurerm_linux_function_app.api.name}",
    "az rest --method post --url 'https://management.azure.com${azurerm_linux_function_app.api.id}/syncfunctiontriggers?api-version=2022-03-01'",
    ]) : join("\n", [
    "az functionapp deployment source config-zip --resource-group ${azurerm_resource_group.main.name} --name ${azurerm_linux_function_app.api.name} --src dist/flowbricks.zip",
  ])
}

output "logic_app_sample_trigger_url" {
  description = "POST {\"job_id\": <id>} here to run the sample Logic App (deploy_logic_app_sample). It contains a signature: treat it as a secret."
  value       = var.deploy_logic_app_sample ? azurerm_logic_app_trigger_http_request.sample[0].callback_url : null
  sensitive   = true
}
