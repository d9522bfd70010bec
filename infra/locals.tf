locals {
  # Identifiers shared with the handler (internal/config: DatabricksAppID, DefaultScope,
  # DefaultAppRole) and the connector. They are written here once, and only here: infra_test.go
  # checks that they equal the handler's constants and appear nowhere else as literals.
  databricks_app_id = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d" # the AzureDatabricks first-party app
  databricks_scope  = "user_impersonation"                   # its delegated permission used On-Behalf-Of
  api_scope         = "user_impersonation"                   # the scope the flowbricks API exposes to flows
  app_role          = "Jobs.Run"                             # the app role app-only callers need

  # Microsoft's Azure CLI public client (AZURE_CLI_CLIENT_ID in the Azure CLI's
  # azure-cli-core/azure/cli/core/auth/identity.py), pre-authorized for the API scope and allowed to
  # act for users while preauthorize_azure_cli is on.
  azure_cli_app_id = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

  # The federated credential's audience for the public cloud (US Gov: api://AzureADTokenExchangeUSGov,
  # China: api://AzureADTokenExchangeChina).
  token_exchange_audience = "api://AzureADTokenExchange"
  entra_login_host        = "https://login.microsoftonline.com"

  # Liveness endpoint of the handler: no authentication and no upstream calls. App Service's health
  # check probes it through Easy Auth (functionapp.tf, auth_settings_v2, says why that works).
  health_path = "/api/health"

  suffix              = random_string.suffix.result
  resource_group_name = var.resource_group_name != "" ? var.resource_group_name : "rg-${var.name_prefix}-${local.suffix}"
  function_app_name   = "func-${var.name_prefix}-${local.suffix}"
  # Storage account names: 3-24 lowercase letters and digits.
  storage_account_name = substr(replace("st${var.name_prefix}${local.suffix}", "-", ""), 0, 24)

  plan_is_elastic = startswith(var.hosting_plan_sku, "EP")

  tenant_id = data.azuread_client_config.current.tenant_id
  # v2.0 issuer of the tenant: where Easy Auth validates tokens and what the federated credential
  # trusts (the managed identity's tokens are issued by the tenant's v2.0 endpoint).
  tenant_issuer = "${local.entra_login_host}/${local.tenant_id}/v2.0"

  # App ID URI: the Entra default form api://<client id>. It needs no verified domain and no unique
  # name, and it is one of the two audiences the handler accepts by default.
  api_app_id_uri = "api://${azuread_application.api.client_id}"
  # The API app requests v2.0 access tokens (requested_access_token_version = 2), whose aud is the
  # client id; clients that asked for the App ID URI on the v1.0 endpoint would see it as aud in a
  # v1.0 token. Both are accepted, here and by Easy Auth (the handler accepts both issuers too).
  api_audiences = [azuread_application.api.client_id, local.api_app_id_uri]

  api_base_url = "https://${azurerm_linux_function_app.api.default_hostname}/api"

  app_owners = distinct(concat([data.azuread_client_config.current.object_id], var.app_owners))

  # App-only callers: the ones given plus the sample Logic App's identity.
  app_callers = distinct(concat(
    var.app_callers,
    var.deploy_logic_app_sample ? [azurerm_user_assigned_identity.logic_app[0].client_id] : [],
  ))

  # Client applications whose delegated (user) tokens the handler accepts: the custom connector's
  # app registration, the Azure CLI while it is pre-authorized for checking the deployment by hand,
  # and the ones given (docs/deploy.md, "Client applications allowed to act for users").
  client_apps = distinct(concat(
    [azuread_application.connector.client_id],
    var.preauthorize_azure_cli ? [local.azure_cli_app_id] : [],
    var.client_apps,
  ))

  # Where Elastic Premium runs the package from (see variables.tf, hosting_plan_sku).
  package_container = "deployments"
  package_blob      = "flowbricks.zip"
  package_url       = "${azurerm_storage_account.host.primary_blob_endpoint}${local.package_container}/${local.package_blob}"
}
