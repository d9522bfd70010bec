# Inputs of the flowbricks deployment. terraform.tfvars.example shows a filled-in set.

variable "subscription_id" {
  description = "Azure subscription to deploy into (azurerm 4.x requires it explicitly; ARM_SUBSCRIPTION_ID works too if you leave this null)."
  type        = string
  default     = null
}

variable "location" {
  description = "Azure region of every resource. Put it next to the Databricks workspace: each job call crosses from the Function App to the workspace."
  type        = string
  default     = "westeurope"
}

variable "name_prefix" {
  description = "Prefix of every resource and app registration name; a random suffix keeps the globally unique names (Function App, storage) unique."
  type        = string
  default     = "flowbricks"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-16 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "resource_group_name" {
  description = "Name of the resource group to create. Empty = rg-<name_prefix>-<suffix>."
  type        = string
  default     = ""
}

# Which plan runs the Go custom handler. The trade-off, as of 2026-11:
#
# - Dedicated (App Service plan, B*/S*/P*v3) - the default, B1. Runs custom handlers; has no Azure
#   Files content share, so host storage works with the managed identity alone and zip deploy
#   (`az functionapp deployment source config-zip`) keeps the executable bit. Always On keeps the
#   handler warm. You pay for the plan whether it is busy or not; scale out is manual or by
#   autoscale rules. Use P0v3/P1v3 for production (more memory, autoscale, zone redundancy).
# - Elastic Premium (EP1-EP3). Runs custom handlers and scales out by itself with pre-warmed
#   instances, but costs more and by default keeps the app's content on an Azure Files share,
#   which only works with a storage account key. To keep "no secret anywhere", this
#   configuration creates EP apps without that share: the package is run from a private blob
#   (WEBSITE_RUN_FROM_PACKAGE = its URL, read with the managed identity) and deploying means
#   uploading the zip and restarting (see docs/deploy.md). Microsoft documents that scale-out can
#   be limited without the share.
# - Not offered: Flex Consumption (FC1) rejects runtime "custom"; running a custom handler there
#   needs a native-stack workaround that is not verified for this handler. Linux Consumption (Y1)
#   gets no new features and retires on 30 September 2028, and it also needs an Azure Files key.
variable "hosting_plan_sku" {
  description = "App Service plan SKU: Dedicated B1/B2/B3/S1/S2/S3/P0v3/P1v3/P2v3/P3v3 or Elastic Premium EP1/EP2/EP3. See the comment above this variable for the trade-off."
  type        = string
  default     = "B1"

  validation {
    condition     = contains(["B1", "B2", "B3", "S1", "S2", "S3", "P0v3", "P1v3", "P2v3", "P3v3", "EP1", "EP2", "EP3"], var.hosting_plan_sku)
    error_message = "hosting_plan_sku must be a Dedicated (B1-B3, S1-S3, P0v3-P3v3) or Elastic Premium (EP1-EP3) SKU. Flex Consumption and Linux Consumption are not supported for the Go custom handler; see variables.tf."
  }
}

variable "elastic_maximum_instances" {
  description = "Elastic Premium only: the most instances the plan may scale out to."
  type        = number
  default     = 10

  validation {
    condition     = var.elastic_maximum_instances >= 1 && var.elastic_maximum_instances <= 100
    error_message = "elastic_maximum_instances must be between 1 and 100."
  }
}

variable "databricks_host" {
  description = "URL of the default Azure Databricks workspace, e.g. https://adb-1234567890123456.7.azuredatabricks.net (DATABRICKS_HOST)."
  type        = string

  validation {
    condition     = can(regex("^https://[^/?#]+/?$", var.databricks_host))
    error_message = "databricks_host must be the workspace URL: https://<host> with no path."
  }
}

variable "databricks_workspaces" {
  description = "More workspaces a request may choose by name, name => https URL (FLOWBRICKS_WORKSPACES). The default workspace is always available as \"default\"."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name, url in var.databricks_workspaces : can(regex("^[A-Za-z0-9_.-]+$", name)) && can(regex("^https://[^/?#]+/?$", url))])
    error_message = "databricks_workspaces must map simple names (letters, digits, _ . -) to https://<host> URLs."
  }
}

variable "databricks_job_ids" {
  description = "If not empty, the only Databricks job ids flowbricks will trigger or read (FLOWBRICKS_JOBS)."
  type        = list(number)
  default     = []
}

variable "sql_mode" {
  description = "Which SQL flows may run as the signed-in user (FLOWBRICKS_SQL): any (their own statements and the named ones), named (only sql_statements, by name) or off. docs/sql.md, \"Named mode\"."
  type        = string
  default     = "any"

  validation {
    condition     = contains(["any", "named", "off"], var.sql_mode)
    error_message = "sql_mode must be any, named or off."
  }
}

variable "sql_statements" {
  description = "Named SQL statements flows may run by name (FLOWBRICKS_SQL_STATEMENTS, as inline JSON): name => { statement, parameters (name => Databricks type), warehouse_id, description }. Required when sql_mode is named. docs/sql.md, \"Named mode\"."
  type = map(object({
    statement    = string
    parameters   = optional(map(string), {})
    warehouse_id = optional(string)
    description  = optional(string)
  }))
  default = {}
}

variable "databricks_warehouse_ids" {
  description = "If not empty, the only SQL warehouse ids flows may run statements on and see in the warehouse picker (FLOWBRICKS_WAREHOUSES)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.databricks_warehouse_ids : can(regex("^[A-Za-z0-9_-]{1,64}$", id))])
    error_message = "databricks_warehouse_ids must be SQL warehouse ids (letters, digits, _ and -)."
  }
}

variable "app_callers" {
  description = "Application (client) ids allowed to call flowbricks app-only, with the Jobs.Run app role (FLOWBRICKS_APP_CALLERS). The sample Logic App's identity is added automatically. Each caller also needs the app role assigned (this configuration does that only for the sample)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.app_callers : can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", id))])
    error_message = "app_callers must be application (client) ids (GUIDs)."
  }
}

variable "client_apps" {
  description = "More client applications (application ids) whose delegated tokens may act for a user, besides the custom connector's app registration and, with preauthorize_azure_cli, the Azure CLI, which are always allowed (FLOWBRICKS_CLIENT_APPS). docs/deploy.md, \"Client applications allowed to act for users\", says which ids a flow can come from and how to read one from the sign-in logs."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.client_apps : can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", id))])
    error_message = "client_apps must be application (client) ids (GUIDs)."
  }
}

variable "public_url" {
  description = "Public base URL of the API if it is not the Function App's own host name, e.g. behind Front Door or a custom domain (FLOWBRICKS_PUBLIC_URL). Empty = https://<WEBSITE_HOSTNAME>."
  type        = string
  default     = ""

  validation {
    condition     = var.public_url == "" || can(regex("^https://[^/?#]+/?$", var.public_url))
    error_message = "public_url must be empty or https://<host>."
  }
}

variable "poll_seconds" {
  description = "Retry-After seconds the API suggests while a run is not finished (FLOWBRICKS_POLL_SECONDS)."
  type        = number
  default     = 20

  validation {
    condition     = var.poll_seconds >= 1 && var.poll_seconds <= 3600 && floor(var.poll_seconds) == var.poll_seconds
    error_message = "poll_seconds must be a whole number from 1 to 3600."
  }
}

variable "log_level" {
  description = "Handler log level (FLOWBRICKS_LOG_LEVEL): trace, debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["trace", "debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be one of trace, debug, info, warn, error."
  }
}

variable "connector_redirect_uris" {
  description = "Redirect URIs of the Power Platform custom connector's app registration. Start with the global one; after importing the connector, add the per-connector URL its Security tab shows (https://global.consent.azure-apim.net/redirect/<connector-id>) and apply again."
  type        = list(string)
  default     = ["https://global.consent.azure-apim.net/redirect"]

  validation {
    condition     = length(var.connector_redirect_uris) > 0 && alltrue([for u in var.connector_redirect_uris : startswith(u, "https://")])
    error_message = "connector_redirect_uris must hold at least one https URL."
  }
}

variable "grant_admin_consent" {
  description = "Grant tenant-wide admin consent for the API's delegated permission on Azure Databricks (user_impersonation). The azuread provider documents Global Administrator for this grant (Entra ID also lets Cloud Application Administrator, Application Administrator and Privileged Role Administrator consent, e.g. with `az ad app permission admin-consent`). Leave false to have an administrator consent separately (docs/deploy.md, step 4)."
  type        = bool
  default     = false
}

variable "preauthorize_azure_cli" {
  description = "Pre-authorize the Azure CLI for the API's scope and allow it as a client application (FLOWBRICKS_CLIENT_APPS), so `az account get-access-token --resource <App ID URI>` gives a token flowbricks accepts for checking the deployment (docs/deploy.md, step 8). Turn it off once done."
  type        = bool
  default     = true
}

# Off by default: what a user may do is decided by their Databricks permissions on each job, and a
# user who is not in the workspace gets nothing (not_in_workspace). Turn it on to keep everyone but
# the assigned users and groups from getting a token for the API at all (docs/deploy.md).
variable "require_user_assignment" {
  description = "Require user and group assignment on the flowbricks API's enterprise application (app_role_assignment_required). Entra ID then refuses to issue a token for the API to anyone not assigned, directly or through a group (Enterprise applications > flowbricks API > Users and groups); app-only callers need their Jobs.Run assignment as before."
  type        = bool
  default     = false
}

variable "app_owners" {
  description = "Object ids of extra owners of the two app registrations (the identity running Terraform is always an owner)."
  type        = list(string)
  default     = []
}

variable "deploy_logic_app_sample" {
  description = "Create the sample Logic App (Consumption) that runs a Databricks job through flowbricks with its own managed identity (app-only caller)."
  type        = bool
  default     = false
}

variable "sample_job_id" {
  description = "Databricks job id the sample Logic App runs when its trigger body has no job_id."
  type        = number
  default     = 0
}

variable "log_retention_days" {
  description = "Days Log Analytics keeps the logs and Application Insights telemetry."
  type        = number
  default     = 30

  validation {
    condition     = contains([30, 60, 90, 120, 180, 270, 365, 550, 730], var.log_retention_days)
    error_message = "log_retention_days must be one of the values Application Insights accepts: 30, 60, 90, 120, 180, 270, 365, 550, 730."
  }
}

variable "tags" {
  description = "Tags put on every Azure resource."
  type        = map(string)
  default     = { app = "flowbricks" }
}
