package api

// The OpenAPI 2.0 document served at /api/openapi.json is the Power Platform custom connector's
// definition (connector/apiDefinition.swagger.json is a copy of it). It is generated, not
// written: methods, paths and operationIds come from the operation table in routes.go, every
// operation's texts and parameters from its opDoc (openapi_docs.go), and the schemas of bodies
// and answers by reflection (package swagger) from the Go types the handlers encode, whose
// fields carry their own descriptions. A field added to databricks.Run shows up in the document
// (and in the connector's dynamic content) without touching this file.
//
// go-openapi validates the result in the tests (openapi_test.go).

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/swagger"
)

// obj is a JSON object of the document.
type obj = swagger.Object

// apiVersion is info.version of the document. Change it when an operation or a schema changes in
// a way a flow that uses the connector would notice.
const apiVersion = "1.0"

// apiPrefix is the Functions route prefix every documented operation lives under (basePath):
// host.json's extensions.http.routePrefix.
const apiPrefix = "/api"

// opDoc is how one operation of the table appears in the OpenAPI document. Method, path and
// operationId come from the table (routes.go); path parameters from the path pattern.
type opDoc struct {
	Summary     string // the action's title in the designer (sentence case)
	Description string
	Visibility  string   // x-ms-visibility: swagger.Important or swagger.Advanced
	Query       []string // query parameters, names from queryParameters
	Headers     []string // header parameters, names from headerParameters
	// Params are keywords of this operation's parameters that win over the catalogue's, where
	// a name means something else here (wait waits for a statement, not a run), or the whole
	// parameter when only this operation has it.
	Params    map[string]obj
	Body      reflect.Type // request body (a struct, described by its tags), nil = none
	Responses []respDoc

	// Extensions are further keywords of the operation object (x-ms-trigger, x-ms-trigger-hint).
	Extensions obj
}

// respDoc is one documented answer of an operation.
type respDoc struct {
	Status      int
	Description string
	Schema      reflect.Type // nil = no body
	Array       bool         // the body is a JSON array of Schema
	Headers     []string     // response headers, names from responseHeaders
}

// openAPIDocument builds the document without host and schemes, which depend on the request
// (withPublicBase). It fails only on a programming error: a type the reflection cannot express,
// an operation without its opDoc, or a parameter missing from the catalogues.
func (s *server) openAPIDocument() (obj, error) {
	b := swagger.New(swagger.Options{Definitions: definitions(), Keywords: propertyKeywords(s.Config)})
	paths := obj{}
	ids := map[string]bool{}
	for _, op := range s.ops {
		if (op.ID == "") != (op.Doc == nil) {
			return nil, fmt.Errorf("operation %s %s: an operationId and an OpenAPI description go together (ID %q)", op.Method, op.Path, op.ID)
		}
		if op.ID == "" {
			continue
		}
		if ids[op.ID] {
			return nil, fmt.Errorf("operationId %s is used twice", op.ID)
		}
		ids[op.ID] = true
		path, ok := strings.CutPrefix(op.Path, apiPrefix)
		if !ok {
			return nil, fmt.Errorf("operation %s: path %s is not under %s", op.ID, op.Path, apiPrefix)
		}
		o, err := operationObject(b, op, path)
		if err != nil {
			return nil, fmt.Errorf("operation %s: %w", op.ID, err)
		}
		item, _ := paths[path].(obj)
		if item == nil {
			item = obj{}
			paths[path] = item
		}
		item[strings.ToLower(op.Method)] = o
	}
	if err := b.Err(); err != nil {
		return nil, err
	}

	authority := strings.TrimRight(s.Config.AuthorityHost, "/")
	if authority == "" {
		authority = strings.TrimRight(azure.PublicAuthorityHost, "/")
	}
	scope := s.Config.Scope
	if scope == "" {
		scope = config.DefaultScope
	}
	connector := s.Config.Connector.OrDefaults()
	return obj{
		"swagger": "2.0",
		"info": obj{
			"title":   "flowbricks",
			"version": apiVersion,
			// Microsoft's string guidance: at most 500 characters, no "API", and no product the
			// publisher does not own: Power Platform's, Azure's and Databricks' names stay out
			// (docs/connector.md, "What makers read: the connector's strings").
			"description": "Run jobs and SQL statements as the signed-in user and use their results in your flows. Every call acts " +
				"with the permissions of the person who signed in to the connection, so each maker runs and sees only what the " +
				"workspace already allows them. \"Run a job\" can wait until the run ends and return the notebook result; \"Run a " +
				"SQL statement\" returns typed rows that need no parsing.",
			"contact": contactOf(connector),
		},
		"basePath":    apiPrefix,
		"consumes":    []string{"application/json"},
		"produces":    []string{"application/json"},
		"paths":       paths,
		"definitions": b.Definitions(),
		"securityDefinitions": obj{
			"oauth2": obj{
				"type":             "oauth2",
				"flow":             "accessCode",
				"authorizationUrl": authority + "/common/oauth2/authorize",
				"tokenUrl":         authority + "/common/oauth2/token",
				"scopes": obj{
					scope: "Run and read Azure Databricks jobs and SQL statements as the signed-in user.",
				},
			},
		},
		"security": []obj{{"oauth2": []string{scope}}},
		"x-ms-capabilities": obj{
			// A cheap call that proves the connection works end to end (token, exchange, workspace).
			"testConnection": obj{"operationId": "ListJobs", "parameters": obj{"limit": 1}},
		},
		// The entries of Microsoft's certified-connector template (microsoft/PowerPlatformConnectors,
		// templates/certified-connectors/apiDefinition.swagger.json); Categories from the
		// certification article's list.
		"x-ms-connector-metadata": []obj{
			{"propertyName": "Website", "propertyValue": website},
			{"propertyName": "Privacy policy", "propertyValue": connector.PrivacyURL},
			{"propertyName": "Categories", "propertyValue": "Data;IT Operations"},
		},
	}, nil
}

// website is the connector's Website: the flowbricks project, whoever runs the deployment.
const website = "https://github.com/flowbricks/flowbricks"

// contactOf is info.contact: who makers turn to about the connector (FLOWBRICKS_CONNECTOR_CONTACT_*).
func contactOf(c config.Connector) obj {
	contact := obj{"name": c.ContactName, "url": c.ContactURL}
	if c.ContactEmail != "" {
		contact["email"] = c.ContactEmail
	}
	return contact
}

// withPublicBase returns doc with the host, scheme and base path flows reach flowbricks at. doc
// itself is shared and not modified. Without a public base the document has no host and no
// schemes: Swagger 2.0 then means "the host (and scheme) serving the documentation", which is
// right for a local stack and, unlike the request's Host, cannot be chosen by a client.
func withPublicBase(doc obj, publicBase string) (obj, error) {
	if publicBase == "" {
		return doc, nil
	}
	u, err := url.Parse(publicBase)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("the public base URL %q is not an absolute URL", publicBase)
	}
	out := make(obj, len(doc)+2)
	for k, v := range doc {
		out[k] = v
	}
	out["host"] = u.Host
	out["schemes"] = []string{u.Scheme}
	out["basePath"] = strings.TrimRight(u.Path, "/") + apiPrefix
	return out, nil
}

func (s *server) handleOpenAPI() http.HandlerFunc {
	// Built on first use: the document is derived from the operation table, which includes this
	// handler.
	var once sync.Once
	var doc obj
	var err error
	return func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { doc, err = s.openAPIDocument() })
		if err != nil {
			writeProblem(w, r, fmt.Errorf("building the OpenAPI document: %w", err))
			return
		}
		served, err := withPublicBase(doc, s.publicBase())
		if err != nil {
			writeProblem(w, r, err)
			return
		}
		respond(w, r, http.StatusOK, served)
	}
}

var pathParamPattern = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// operationObject is the Swagger operation of op, whose path below basePath is path.
func operationObject(b *swagger.Schemas, op operation, path string) (obj, error) {
	d := op.Doc
	if d.Summary == "" || d.Description == "" || d.Visibility == "" {
		return nil, fmt.Errorf("summary, description and visibility are required")
	}
	var params []obj
	catalogues := []struct {
		in    string
		names []string
		known map[string]obj
	}{
		{"path", pathParamNames(path), pathParameters()},
		{"query", d.Query, queryParameters()},
		{"header", d.Headers, headerParameters()},
	}
	for _, c := range catalogues {
		for _, name := range c.names {
			p, ok := c.known[name]
			if !ok && d.Params[name] == nil {
				return nil, fmt.Errorf("%s parameter %q is not described (openapi_docs.go)", c.in, name)
			}
			param := obj{"name": name, "in": c.in, "required": c.in == "path"}
			for k, v := range p {
				param[k] = v
			}
			for k, v := range d.Params[name] {
				param[k] = v
			}
			params = append(params, param)
		}
	}
	if d.Body != nil {
		params = append(params, obj{
			"name": "body", "in": "body", "required": true, "schema": b.Inline(d.Body),
			"x-ms-summary": "Request", "description": "The request.",
		})
	}

	responses := obj{}
	for _, r := range d.Responses {
		resp := obj{"description": r.Description}
		if r.Schema != nil {
			schema := b.Schema(r.Schema)
			if r.Array {
				schema = obj{"type": "array", "items": schema}
			}
			resp["schema"] = schema
		}
		if len(r.Headers) > 0 {
			headers := obj{}
			known := responseHeaders()
			for _, h := range r.Headers {
				hd, ok := known[h]
				if !ok {
					return nil, fmt.Errorf("response header %q is not described (openapi_docs.go)", h)
				}
				headers[h] = hd
			}
			resp["headers"] = headers
		}
		responses[strconv.Itoa(r.Status)] = resp
	}
	responses["default"] = obj{
		"description": "Any other error (for example internal_error or misconfigured, 500).",
		"schema":      b.Schema(reflect.TypeFor[problem]()),
	}

	o := obj{
		"operationId":     op.ID,
		"summary":         d.Summary,
		"description":     d.Description,
		"x-ms-visibility": d.Visibility,
		"responses":       responses,
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	for k, v := range d.Extensions {
		o[k] = v
	}
	return o, nil
}

func pathParamNames(path string) []string {
	var names []string
	for _, m := range pathParamPattern.FindAllStringSubmatch(path, -1) {
		names = append(names, m[1])
	}
	return names
}
