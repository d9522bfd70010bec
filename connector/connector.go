// Package connector is flowbricks' Power Platform custom connector: the files Power Automate,
// Power Apps and Logic Apps import (with paconn or pac), embedded so that tools and tests read the
// bytes that are imported.
//
//   - apiDefinition.swagger.json: the OpenAPI 2.0 definition. It is generated: it is exactly the
//     document the handler serves at /api/openapi.json for the placeholder host
//     flowbricks.azurewebsites.net (internal/api's TestConnectorDefinition checks it and rewrites
//     it with -update).
//   - apiProperties.json: the connection's Microsoft Entra ID OAuth settings (placeholders in <…>).
//   - icon.png: the connector's icon, drawn by DrawIcon on the brand colour of apiProperties.json.
//   - settings.json: the arguments for `paconn create|update --settings settings.json`.
//
// docs/connector.md says how to fill in the placeholders, import the connector and build a flow.
package connector

import (
	_ "embed"
	"slices"
)

var (
	//go:embed apiDefinition.swagger.json
	apiDefinition []byte
	//go:embed apiProperties.json
	apiProperties []byte
	//go:embed icon.png
	icon []byte
)

// APIDefinition returns apiDefinition.swagger.json.
func APIDefinition() []byte { return slices.Clone(apiDefinition) }

// APIProperties returns apiProperties.json.
func APIProperties() []byte { return slices.Clone(apiProperties) }

// Icon returns icon.png.
func Icon() []byte { return slices.Clone(icon) }
