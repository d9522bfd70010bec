# Optional sample (deploy_logic_app_sample = true): a Logic App (Consumption) that runs a
# Databricks job through flowbricks as an app-only caller, with its own managed identity.
#
# - The identity is user-assigned so its client id is known before the Function App is created
#   and can go into FLOWBRICKS_APP_CALLERS (locals.tf) without a dependency cycle.
# - It gets the API's Jobs.Run app role, so its tokens carry roles: ["Jobs.Run"].
# - The HTTP action asks for a token whose audience is the API (the default audience of a managed
#   identity in Logic Apps is Azure Resource Manager, which Easy Auth would reject with 401) and
#   follows flowbricks' 202 + Location polling, sending the same authentication on every poll.
# - Databricks sees flowbricks' own service principal for these runs (app-only callers cannot be
#   exchanged On-Behalf-Of), so that principal must be allowed to run the job (docs/deploy.md).

resource "azurerm_user_assigned_identity" "logic_app" {
  count               = var.deploy_logic_app_sample ? 1 : 0
  name                = "id-${var.name_prefix}-logic-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  tags                = var.tags
}

resource "azuread_app_role_assignment" "logic_app" {
  count               = var.deploy_logic_app_sample ? 1 : 0
  app_role_id         = azuread_application.api.app_role_ids[local.app_role]
  principal_object_id = azurerm_user_assigned_identity.logic_app[0].principal_id
  resource_object_id  = azuread_service_principal.api.object_id
}

resource "azurerm_logic_app_workflow" "sample" {
  count               = var.deploy_logic_app_sample ? 1 : 0
  name                = "logic-${var.name_prefix}-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  tags                = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.logic_app[0].id]
  }
}

# Started by an HTTP POST with an optional body {"job_id": 123} (or "Run trigger" in the portal).
resource "azurerm_logic_app_trigger_http_request" "sample" {
  count        = var.deploy_logic_app_sample ? 1 : 0
  name         = "manual"
  logic_app_id = azurerm_logic_app_workflow.sample[0].id
  method       = "POST"
  schema = jsonencode({
    type       = "object"
    properties = { job_id = { type = "integer" } }
  })
}

resource "azurerm_logic_app_action_custom" "run_job" {
  count        = var.deploy_logic_app_sample ? 1 : 0
  name         = "Run_Databricks_job"
  logic_app_id = azurerm_logic_app_workflow.sample[0].id
  body = jsonencode({
    type     = "Http"
    runAfter = {}
    inputs = {
      method  = "POST"
      uri     = "${local.api_base_url}/jobs/run-now?wait=true"
      headers = { "Content-Type" = "application/json" }
      body    = { job_id = "@coalesce(triggerBody()?['job_id'], ${var.sample_job_id})" }
      authentication = {
        type     = "ManagedServiceIdentity"
        identity = azurerm_user_assigned_identity.logic_app[0].id
        audience = local.api_app_id_uri
      }
    }
  })

  # The Function App must already answer with the app role assigned, or the first run fails.
  depends_on = [azuread_app_role_assignment.logic_app]
}

# Answers the trigger's caller with flowbricks' final run status (or its error), so the sample can
# be run with curl and the result read directly.
resource "azurerm_logic_app_action_custom" "respond" {
  count        = var.deploy_logic_app_sample ? 1 : 0
  name         = "Respond"
  logic_app_id = azurerm_logic_app_workflow.sample[0].id
  body = jsonencode({
    type     = "Response"
    kind     = "Http"
    runAfter = { (azurerm_logic_app_action_custom.run_job[0].name) = ["Succeeded", "Failed", "TimedOut"] }
    inputs = {
      statusCode = "@outputs('${azurerm_logic_app_action_custom.run_job[0].name}')['statusCode']"
      headers    = { "Content-Type" = "application/json" }
      body       = "@body('${azurerm_logic_app_action_custom.run_job[0].name}')"
    }
  })
}
