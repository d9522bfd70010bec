# Entra ID app registrations.
#
# flowbricks API  - the resource flows get tokens for (scope user_impersonation, app role
#                   Jobs.Run) and the confidential client that exchanges them On-Behalf-Of for
#                   Azure Databricks tokens. Its only credential is the federated credential below.
# connector       - the OAuth client of the Power Platform custom connector, pre-authorized for
#                   the API's scope so users are not asked to consent to it.

# Azure Databricks' service principal in this tenant. Read, never managed: destroying it would
# break Databricks for the whole tenant. It exists once a workspace has been used in the tenant;
# if not, `az ad sp create --id 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d` creates it (docs/deploy.md).
# Its scope ids are looked up by name, so no permission GUID is copied from anywhere.
data "azuread_service_principal" "databricks" {
  client_id = local.databricks_app_id
}

resource "random_uuid" "api_scope_id" {}

resource "random_uuid" "app_role_id" {}

resource "azuread_application" "api" {
  display_name     = "${var.name_prefix}-api-${local.suffix}"
  sign_in_audience = "AzureADMyOrg"
  owners           = local.app_owners

  api {
    # v2.0 access tokens: iss https://login.microsoftonline.com/<tenant>/v2.0, aud = client id.
    # The handler accepts v1.0 tokens as well, but v2 is the documented default for new APIs.
    requested_access_token_version = 2

    oauth2_permission_scope {
      id                         = random_uuid.api_scope_id.result
      value                      = local.api_scope
      type                       = "User"
      enabled                    = true
      admin_consent_display_name = "Run and read Azure Databricks jobs as the signed-in user"
      admin_consent_description  = "Lets the app trigger, watch and cancel Azure Databricks job runs through flowbricks on behalf of the signed-in user, with that user's Databricks permissions."
      user_consent_display_name  = "Run and read your Azure Databricks jobs"
      user_consent_description   = "Lets the app trigger, watch and cancel Azure Databricks job runs through flowbricks on your behalf, with your Databricks permissions."
    }
  }

  app_role {
    id                   = random_uuid.app_role_id.result
    value                = local.app_role
    allowed_member_types = ["Application"]
    enabled              = true
    display_name         = "Run Azure Databricks jobs (app-only)"
    description          = "Lets an allow-listed application call flowbricks without a user; flowbricks then calls Azure Databricks with its own identity."
  }

  # The delegated permission the On-Behalf-Of exchange needs. Admin consent for it is granted
  # below (grant_admin_consent) or by an administrator (docs/deploy.md).
  required_resource_access {
    resource_app_id = local.databricks_app_id

    resource_access {
      id   = data.azuread_service_principal.databricks.oauth2_permission_scope_ids[local.databricks_scope]
      type = "Scope"
    }
  }

  # The App ID URI (api://<client id>) refers to the application itself, so it is set by
  # azuread_application_identifier_uri below.
  lifecycle {
    ignore_changes = [identifier_uris]
  }
}

resource "azuread_application_identifier_uri" "api" {
  application_id = azuread_application.api.id
  identifier_uri = local.api_app_id_uri
}

resource "azuread_service_principal" "api" {
  client_id = azuread_application.api.client_id
  owners    = local.app_owners
  # variables.tf, require_user_assignment: with it on, Entra ID issues tokens for the API only to
  # assigned users, groups and applications.
  app_role_assignment_required = var.require_user_assignment
}

# No secret, nothing to rotate: the Function App's managed identity is the app's credential.
resource "azuread_application_federated_identity_credential" "api_managed_identity" {
  application_id = azuread_application.api.id
  display_name   = "function-app-managed-identity"
  description    = "The flowbricks Function App's user-assigned managed identity ${azurerm_user_assigned_identity.api.name}."
  audiences      = [local.token_exchange_audience]
  issuer         = local.tenant_issuer
  subject        = azurerm_user_assigned_identity.api.principal_id
}

# Tenant-wide admin consent for the Databricks delegated permission: the middle tier has no UI to
# ask users, so without it every OBO exchange fails with AADSTS65001 (consent_required).
resource "azuread_service_principal_delegated_permission_grant" "api_databricks" {
  count                                = var.grant_admin_consent ? 1 : 0
  service_principal_object_id          = azuread_service_principal.api.object_id
  resource_service_principal_object_id = data.azuread_service_principal.databricks.object_id
  claim_values                         = [local.databricks_scope]
}

# --- Power Platform custom connector ---------------------------------------------------------

resource "azuread_application" "connector" {
  display_name     = "${var.name_prefix}-connector-${local.suffix}"
  sign_in_audience = "AzureADMyOrg"
  owners           = local.app_owners

  web {
    redirect_uris = var.connector_redirect_uris
  }

  required_resource_access {
    resource_app_id = azuread_application.api.client_id

    resource_access {
      id   = random_uuid.api_scope_id.result
      type = "Scope"
    }
  }
}

resource "azuread_service_principal" "connector" {
  client_id = azuread_application.connector.client_id
  owners    = local.app_owners
}

# Users signing in through the connector are not asked to consent to the API's scope.
resource "azuread_application_pre_authorized" "connector" {
  application_id       = azuread_application.api.id
  authorized_client_id = azuread_application.connector.client_id
  permission_ids       = [random_uuid.api_scope_id.result]
}

# --- Azure CLI, for checking a deployment by hand -----------------------------------------------

# Lets `az account get-access-token --resource api://<client id>` (docs/deploy.md) return a token
# for the API without a consent prompt, which az cannot show. Any tenant user may then call
# flowbricks from a shell with their own identity, exactly as they could through the connector.
resource "azuread_application_pre_authorized" "azure_cli" {
  count                = var.preauthorize_azure_cli ? 1 : 0
  application_id       = azuread_application.api.id
  authorized_client_id = local.azure_cli_app_id
  permission_ids       = [random_uuid.api_scope_id.result]
}
