// Package azure holds the Azure platform facts flowbricks relies on: identifiers Microsoft
// defines, not settings an operator chooses. It is a leaf package so that the settings
// (internal/config), the Entra ID boundary (internal/entra) and the tooling all name the same
// values without importing one another (docs/architecture.md, Platform facts the code relies on).
package azure

const (
	// DatabricksAppID is the AzureDatabricks first-party application: the audience of every token
	// Databricks accepts, the same in the public, US Government and China clouds
	// (https://learn.microsoft.com/azure/databricks/dev-tools/auth/user-aad-token).
	DatabricksAppID = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
	// DatabricksScope is what the On-Behalf-Of exchange and the client-credentials flow ask Entra
	// ID for: the Azure Databricks resource with the static /.default scope.
	DatabricksScope = DatabricksAppID + "/.default"
	// PublicAuthorityHost is Microsoft Entra ID in the public cloud, the authority when
	// AZURE_AUTHORITY_HOST is not set. It is azcore's cloud.AzurePublic.ActiveDirectoryAuthorityHost
	// (a variable there, so it cannot be a constant's value; a test keeps the two equal).
	PublicAuthorityHost = "https://login.microsoftonline.com/"
)
