# The Function App that runs the Go custom handler (host.json: customHandler, forwarding mode,
# executable bin/flowbricks; function-trigger/function.json: one anonymous catch-all HTTP
# trigger). The plan is a variable; variables.tf explains the choice.

resource "azurerm_service_plan" "main" {
  name                         = "asp-${var.name_prefix}-${local.suffix}"
  resource_group_name          = azurerm_resource_group.main.name
  location                     = azurerm_resource_group.main.location
  os_type                      = "Linux"
  sku_name                     = var.hosting_plan_sku
  maximum_elastic_worker_count = local.plan_is_elastic ? var.elastic_maximum_instances : null
  tags                         = var.tags
}

resource "azurerm_linux_function_app" "api" {
  name                = local.function_app_name
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  service_plan_id     = azurerm_service_plan.main.id
  https_only          = true
  tags                = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.api.id]
  }

  # Host storage through the managed identity. The provider writes AzureWebJobsStorage__accountName;
  # __credential and __clientId (below) make the host use the user-assigned identity.
  storage_account_name          = azurerm_storage_account.host.name
  storage_uses_managed_identity = true
  # No Azure Files content share (it would need a storage key). Dedicated plans never use one;
  # Elastic Premium runs from the package URL instead.
  content_share_force_disabled = true
  # The AzureWebJobsDashboard setting is obsolete; telemetry goes to Application Insights.
  builtin_logging_enabled = false

  # Deployments authenticate with Entra ID (az CLI sends a bearer token), not with publishing
  # passwords.
  ftp_publish_basic_authentication_enabled       = false
  webdeploy_publish_basic_authentication_enabled = false

  # health_check_path: App Service's health check pings it on every instance and takes an instance
  # out of the load balancer after repeated non-2xx answers. It needs a Dedicated or Premium plan,
  # an anonymous function and, to get no 307, HTTPS Only (https_only above); Easy Auth does not
  # stand in its way (auth_settings_v2 below).
  site_config {
    # Keeps the handler loaded on Dedicated plans; Elastic Premium must leave it off.
    always_on                         = !local.plan_is_elastic
    elastic_instance_minimum          = local.plan_is_elastic ? 1 : null
    ftps_state                        = "Disabled"
    minimum_tls_version               = "1.2"
    http2_enabled                     = true
    health_check_path                 = local.health_path
    health_check_eviction_time_in_min = 10

    application_insights_connection_string = azurerm_application_insights.main.connection_string

    # FUNCTIONS_WORKER_RUNTIME=custom; host.json's customHandler section starts bin/flowbricks.
    application_stack {
      use_custom_runtime = true
    }
  }

  # Exactly the handler's configuration names (internal/config.SettingNames) plus the platform
  # settings listed in infra_test.go, which checks both ways. Empty values are left out, so an
  # optional setting without a value is simply not set. Keep this one literal map.
  #
  # AZURE_CLIENT_ID is the flowbricks API app registration (azidentity's name), not the managed
  # identity: everything that uses the identity gets its client id explicitly
  # (FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID, AzureWebJobsStorage__clientId, the App Insights
  # authentication string), so nothing mistakes one for the other.
  app_settings = { for name, value in {
    # --- the handler (internal/config) ---
    AZURE_TENANT_ID                       = local.tenant_id
    AZURE_CLIENT_ID                       = azuread_application.api.client_id
    FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID = azurerm_user_assigned_identity.api.client_id
    DATABRICKS_HOST                       = trimsuffix(var.databricks_host, "/")
    FLOWBRICKS_WORKSPACES                 = join(",", [for ws, url in var.databricks_workspaces : "${ws}=${trimsuffix(url, "/")}"])
    FLOWBRICKS_JOBS                       = join(",", [for id in var.databricks_job_ids : tostring(id)])
    FLOWBRICKS_SQL                        = var.sql_mode
    FLOWBRICKS_SQL_STATEMENTS             = length(var.sql_statements) == 0 ? "" : jsonencode(var.sql_statements)
    FLOWBRICKS_WAREHOUSES                 = join(",", var.databricks_warehouse_ids)
    FLOWBRICKS_AUDIENCES                  = join(",", local.api_audiences)
    FLOWBRICKS_SCOPE                      = local.api_scope
    FLOWBRICKS_APP_ROLE                   = local.app_role
    FLOWBRICKS_APP_CALLERS                = join(",", local.app_callers)
    FLOWBRICKS_CLIENT_APPS                = join(",", local.client_apps)
    FLOWBRICKS_PUBLIC_URL                 = trimsuffix(var.public_url, "/")
    FLOWBRICKS_POLL_SECONDS               = tostring(var.poll_seconds)
    FLOWBRICKS_LOG_LEVEL                  = var.log_level
    FLOWBRICKS_LOG_FORMAT                 = "json"

    # --- the platform ---
    AzureWebJobsStorage__credential           = "managedidentity"
    AzureWebJobsStorage__clientId             = azurerm_user_assigned_identity.api.client_id
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "ClientId=${azurerm_user_assigned_identity.api.client_id};Authorization=AAD"
    # Dedicated: zip deploy stores the package and the app runs it read-only, modes intact.
    # Elastic Premium: the app runs the package from the private blob with its identity.
    WEBSITE_RUN_FROM_PACKAGE                     = local.plan_is_elastic ? local.package_url : "1"
    WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID = local.plan_is_elastic ? azurerm_user_assigned_identity.api.id : ""
    # The package already holds the compiled handler; `az functionapp deployment source config-zip`
    # would otherwise add this setting itself and Terraform would remove it again.
    SCM_DO_BUILD_DURING_DEPLOYMENT = "false"
  } : name => value if value != "" }

  # Easy Auth in front of the handler: requests without a valid Entra token for this API get 401
  # before they reach it. function.json stays anonymous (Easy Auth does not satisfy function
  # keys). Easy Auth checks signature, issuer and audience but neither scopes nor app roles, so
  # the handler validates every token again and authorizes it (defence in depth).
  #
  # The health path, whichever way Easy Auth treats excluded_paths:
  # - App Service's own health check reaches it regardless: "Health check integrates with the App
  #   Service authentication and authorization features. No other settings are required if these
  #   security features are enabled" (learn.microsoft.com/azure/app-service/monitor-instances-health-check,
  #   "Authentication and security").
  # - excluded_paths is documented only for the redirect action: "The paths which should be
  #   excluded from the unauthenticated_action when it is set to RedirectToLoginPage" (azurerm 4.55
  #   linux_function_app docs), "The paths for which unauthenticated flow would not be redirected
  #   to the login page" (the authsettingsV2 GlobalValidation REST reference). With Return401 a
  #   token-less GET may therefore get 200 or 401; docs/deploy.md (step 8) checks it with a token.
  #   It is kept because the handler's health route is public by design and an external probe that
  #   cannot send a token (Front Door, Application Gateway) works where the exclusion is honoured.
  auth_settings_v2 {
    auth_enabled           = true
    require_authentication = true
    unauthenticated_action = "Return401"
    default_provider       = "azureactivedirectory"
    excluded_paths         = [local.health_path]
    require_https          = true

    active_directory_v2 {
      client_id            = azuread_application.api.client_id
      tenant_auth_endpoint = local.tenant_issuer
      allowed_audiences    = local.api_audiences
    }

    login {
      token_store_enabled = false
    }
  }

  # The identity must be able to reach storage and Application Insights when the host first starts.
  depends_on = [
    azurerm_role_assignment.api_storage,
    azurerm_role_assignment.api_monitoring,
  ]
}
