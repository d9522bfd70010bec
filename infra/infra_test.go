package infra

// These tests read the Terraform as syntax (github.com/hashicorp/hcl/v2): no provider, no
// network, no `terraform init`. They pin what the deployment must agree on with the handler.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/flowbricks/flowbricks/connector"
	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/config"
)

// platformSettings are the app settings besides the handler's own that the Terraform may set:
// names the Functions platform reads, each with the reason it is set. An exact list, not
// prefixes, so a misspelt platform name fails here instead of being ignored by Azure.
var platformSettings = map[string]string{
	"AzureWebJobsStorage__credential":              "host storage through a managed identity (the provider sets __accountName)",
	"AzureWebJobsStorage__clientId":                "which managed identity: the user-assigned one",
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING":    "telemetry ingestion with the managed identity (local auth is off)",
	"WEBSITE_RUN_FROM_PACKAGE":                     "run the zip read-only as deployed, executable bit intact",
	"WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID": "Elastic Premium: the identity that reads the package blob",
	"SCM_DO_BUILD_DURING_DEPLOYMENT":               "the package is prebuilt; no remote build",
}

// forbiddenSettings must never be in the Terraform's app settings, whatever else changes.
var forbiddenSettings = map[string]string{
	"AZURE_CLIENT_SECRET":                      "production has no secret: the managed identity is the API app's federated credential",
	"AZURE_CLIENT_CERTIFICATE_PATH":            "production has no certificate: the managed identity is the API app's federated credential",
	"AZURE_CLIENT_CERTIFICATE_PASSWORD":        "production has no certificate: the managed identity is the API app's federated credential",
	"FUNCTIONS_CUSTOMHANDLER_PORT":             "the Functions host picks the port and passes it to the handler",
	"WEBSITE_HOSTNAME":                         "App Service sets it",
	"AzureWebJobsStorage":                      "a storage connection string holds the account key",
	"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "holds the storage account key (the app has no Azure Files share)",
	"WEBSITE_CONTENTSHARE":                     "the app has no Azure Files share",
	"AzureWebJobsStorage__accountName":         "azurerm sets it from storage_account_name",
	"FUNCTIONS_WORKER_RUNTIME":                 "azurerm sets it from application_stack.use_custom_runtime",
	"FUNCTIONS_EXTENSION_VERSION":              "azurerm sets it from functions_extension_version",
	"APPLICATIONINSIGHTS_CONNECTION_STRING":    "azurerm sets it from site_config.application_insights_connection_string",
}

// providedAtRuntime are handler settings the platform gives the process itself; the Terraform
// cannot (and must not) set them, so they are exempt from "every required setting is set".
var providedAtRuntime = []string{"FUNCTIONS_CUSTOMHANDLER_PORT", "WEBSITE_HOSTNAME"}

// databricksDelegatedPermission is the delegated permission Azure Databricks publishes for user
// tokens. The handler asks for DatabricksAppID/.default, which carries it once consented.
const databricksDelegatedPermission = "user_impersonation"

// ---------------------------------------------------------------------------------------------
// Parsing

type tfFile struct {
	name string
	body *hclsyntax.Body
}

// parseTerraform parses every .tf file under this folder (and terraform.tfvars.example) and
// fails the test on any diagnostic.
func parseTerraform(t *testing.T) []tfFile {
	t.Helper()
	var names []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".terraform" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".tf") || strings.HasSuffix(p, ".tfvars.example")) {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	parser := hclparse.NewParser()
	var files []tfFile
	for _, name := range names {
		f, diags := parser.ParseHCLFile(name)
		if len(diags) > 0 { // warnings too: the files are ours, keep them clean
			t.Errorf("%s: %s", name, diags.Error())
			continue
		}
		if strings.HasSuffix(name, ".tf") {
			files = append(files, tfFile{name, f.Body.(*hclsyntax.Body)})
		}
	}
	if len(files) == 0 {
		t.Fatal("no .tf files found")
	}
	return files
}

// blocks returns the top-level blocks of the given type whose labels start with labels.
func blocks(files []tfFile, typ string, labels ...string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, f := range files {
		for _, b := range f.body.Blocks {
			if b.Type == typ && len(b.Labels) >= len(labels) && slices.Equal(b.Labels[:len(labels)], labels) {
				out = append(out, b)
			}
		}
	}
	return out
}

func onlyBlock(t *testing.T, files []tfFile, typ string, labels ...string) *hclsyntax.Block {
	t.Helper()
	bs := blocks(files, typ, labels...)
	if len(bs) != 1 {
		t.Fatalf("want exactly one %s %q block, found %d", typ, labels, len(bs))
	}
	return bs[0]
}

func nestedBlock(t *testing.T, b *hclsyntax.Block, typ string) *hclsyntax.Block {
	t.Helper()
	for _, nb := range b.Body.Blocks {
		if nb.Type == typ {
			return nb
		}
	}
	t.Fatalf("%s %q has no %s block", b.Type, b.Labels, typ)
	return nil
}

func attr(t *testing.T, b *hclsyntax.Block, name string) hclsyntax.Expression {
	t.Helper()
	a, ok := b.Body.Attributes[name]
	if !ok {
		t.Fatalf("%s %q has no attribute %s", b.Type, b.Labels, name)
	}
	return a.Expr
}

// literal evaluates an expression that must not refer to anything.
func literal(t *testing.T, e hclsyntax.Expression) cty.Value {
	t.Helper()
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: want a literal value: %s", e.Range(), diags.Error())
	}
	return v
}

// reference returns "local.api_scope" for the expression local.api_scope, "" for anything else.
func reference(e hclsyntax.Expression) string {
	st, ok := e.(*hclsyntax.ScopeTraversalExpr)
	if !ok {
		return ""
	}
	var parts []string
	for _, step := range st.Traversal {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			parts = append(parts, s.Name)
		case hcl.TraverseAttr:
			parts = append(parts, s.Name)
		default:
			return ""
		}
	}
	return strings.Join(parts, ".")
}

// describe names an expression for a failure message: the reference it is, or where it is.
func describe(e hclsyntax.Expression) string {
	if e == nil {
		return "(not set)"
	}
	if r := reference(e); r != "" {
		return r
	}
	return "the expression at " + e.Range().String()
}

// locals returns every attribute of every locals block.
func locals(files []tfFile) map[string]*hclsyntax.Attribute {
	out := map[string]*hclsyntax.Attribute{}
	for _, b := range blocks(files, "locals") {
		for name, a := range b.Body.Attributes {
			out[name] = a
		}
	}
	return out
}

func localString(t *testing.T, files []tfFile, name string) string {
	t.Helper()
	a, ok := locals(files)[name]
	if !ok {
		t.Fatalf("no local.%s", name)
	}
	v := literal(t, a.Expr)
	if v.Type() != cty.String {
		t.Fatalf("local.%s is %s, want a string literal", name, v.Type().FriendlyName())
	}
	return v.AsString()
}

// appSettings returns the keys of the Function App's app_settings with their value expressions.
// It accepts an object literal, a `{ for k, v in <literal> : k => v if … }` filter over one, and
// merge() / conditionals of those; anything else (a variable, a computed key) fails, because
// then a key could escape this check.
func appSettings(expr hclsyntax.Expression) (map[string]hclsyntax.Expression, error) {
	out := map[string]hclsyntax.Expression{}
	var collect func(e hclsyntax.Expression) error
	collect = func(e hclsyntax.Expression) error {
		switch e := e.(type) {
		case *hclsyntax.ObjectConsExpr:
			for _, item := range e.Items {
				k, diags := item.KeyExpr.Value(nil)
				if diags.HasErrors() || k.Type() != cty.String {
					return fmt.Errorf("%s: app setting names must be literal", item.KeyExpr.Range())
				}
				if _, dup := out[k.AsString()]; dup {
					return fmt.Errorf("%s: %s is set twice", item.KeyExpr.Range(), k.AsString())
				}
				out[k.AsString()] = item.ValueExpr
			}
			return nil
		case *hclsyntax.ForExpr:
			if e.KeyExpr == nil || reference(e.KeyExpr) != e.KeyVar || e.KeyVar == "" || e.Group {
				return fmt.Errorf("%s: a for expression over app settings must keep the keys (k => v)", e.Range())
			}
			return collect(e.CollExpr)
		case *hclsyntax.FunctionCallExpr:
			if e.Name != "merge" {
				return fmt.Errorf("%s: %s() in app_settings cannot be checked; use merge() or a literal map", e.Range(), e.Name)
			}
			for _, arg := range e.Args {
				if err := collect(arg); err != nil {
					return err
				}
			}
			return nil
		case *hclsyntax.ConditionalExpr:
			if err := collect(e.TrueResult); err != nil {
				return err
			}
			return collect(e.FalseResult)
		case *hclsyntax.ParenthesesExpr:
			return collect(e.Expression)
		default:
			return fmt.Errorf("%s: app_settings must be built from literal maps so every key can be checked", e.Range())
		}
	}
	err := collect(expr)
	return out, err
}

func functionApp(t *testing.T, files []tfFile) *hclsyntax.Block {
	t.Helper()
	return onlyBlock(t, files, "resource", "azurerm_linux_function_app")
}

func functionAppSettings(t *testing.T, files []tfFile) map[string]hclsyntax.Expression {
	t.Helper()
	settings, err := appSettings(attr(t, functionApp(t, files), "app_settings"))
	if err != nil {
		t.Fatal(err)
	}
	return settings
}

// ---------------------------------------------------------------------------------------------
// Checks

func TestEveryTerraformFileParses(t *testing.T) {
	files := parseTerraform(t)
	for _, want := range []string{"versions.tf", "variables.tf", "outputs.tf"} {
		if !slices.ContainsFunc(files, func(f tfFile) bool { return f.name == want }) {
			t.Errorf("%s is missing", want)
		}
	}
}

func TestAppSettingsAreExactlyTheHandlersConfiguration(t *testing.T) {
	files := parseTerraform(t)
	settings := functionAppSettings(t, files)
	handler := config.SettingNames()

	t.Run("every setting is one the handler reads or an allow-listed platform setting", func(t *testing.T) {
		for name := range settings {
			if !slices.Contains(handler, name) && platformSettings[name] == "" {
				t.Errorf("app setting %s is neither read by the handler (config.SettingNames) nor an allow-listed platform setting: a typo, or add it to platformSettings with the reason", name)
			}
		}
	})

	t.Run("no forbidden setting", func(t *testing.T) {
		for name, why := range forbiddenSettings {
			if _, ok := settings[name]; ok {
				t.Errorf("app setting %s must not be set: %s", name, why)
			}
		}
	})

	t.Run("every required handler setting is set", func(t *testing.T) {
		for _, name := range config.RequiredSettingNames() {
			if slices.Contains(providedAtRuntime, name) {
				continue
			}
			if _, ok := settings[name]; !ok {
				t.Errorf("the handler requires %s but the Terraform does not set it", name)
			}
		}
	})

	t.Run("the handler's credential is the managed identity", func(t *testing.T) {
		e, ok := settings["FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID"]
		if !ok {
			t.Fatal("FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID is not set: the handler would have no credential")
		}
		if reference(e) != "azurerm_user_assigned_identity.api.client_id" {
			t.Errorf("FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID = %s, want the user-assigned identity's client id", describe(e))
		}
		if e := settings["AZURE_CLIENT_ID"]; reference(e) != "azuread_application.api.client_id" {
			t.Errorf("AZURE_CLIENT_ID = %s, want the API app registration's client id", describe(e))
		}
	})

	t.Run("the lists in this test are consistent", func(t *testing.T) {
		for name := range platformSettings {
			if slices.Contains(handler, name) {
				t.Errorf("%s is a handler setting; remove it from platformSettings", name)
			}
			if _, ok := settings[name]; !ok {
				t.Errorf("platformSettings lists %s but the Terraform does not set it; remove it", name)
			}
		}
		for _, name := range providedAtRuntime {
			if !slices.Contains(handler, name) {
				t.Errorf("providedAtRuntime lists %s, which the handler does not read", name)
			}
		}
	})
}

// Identifiers are the names flowbricks' parts must agree on. An empty field means the source
// does not state that name.
type Identifiers struct {
	DatabricksAppID string // Azure Databricks' application id: the audience of the exchanged token
	DatabricksScope string // the delegated permission on Azure Databricks
	APIScope        string // the delegated scope the flowbricks API exposes to flows
	AppRole         string // the app role app-only callers need
}

// handlerIdentifiers are the handler's values (internal/azure, internal/config), the reference for all others.
func handlerIdentifiers(t *testing.T) Identifiers {
	t.Helper()
	if azure.DatabricksScope != azure.DatabricksAppID+"/.default" {
		t.Errorf("azure.DatabricksScope = %q, want %s/.default", azure.DatabricksScope, azure.DatabricksAppID)
	}
	return Identifiers{
		DatabricksAppID: azure.DatabricksAppID,
		DatabricksScope: databricksDelegatedPermission,
		APIScope:        config.DefaultScope,
		AppRole:         config.DefaultAppRole,
	}
}

// checkIdentifiers compares the identifiers another part of flowbricks states (source names it
// in messages) with the handler's. The connector check reads connector/apiProperties.json into
// Identifiers (the scope from oAuthSettings.scopes) and calls this, as does the OpenAPI check.
func checkIdentifiers(t *testing.T, source string, got Identifiers) {
	t.Helper()
	want := handlerIdentifiers(t)
	for _, c := range []struct{ what, got, want string }{
		{"Azure Databricks application id", got.DatabricksAppID, want.DatabricksAppID},
		{"Azure Databricks delegated permission", got.DatabricksScope, want.DatabricksScope},
		{"API scope", got.APIScope, want.APIScope},
		{"app role", got.AppRole, want.AppRole},
	} {
		if c.got != "" && c.got != c.want {
			t.Errorf("%s: %s is %q, the handler uses %q", source, c.what, c.got, c.want)
		}
	}
}

// terraformIdentifiers reads the identifiers from the Terraform's locals.
func terraformIdentifiers(t *testing.T, files []tfFile) Identifiers {
	t.Helper()
	return Identifiers{
		DatabricksAppID: localString(t, files, "databricks_app_id"),
		DatabricksScope: localString(t, files, "databricks_scope"),
		APIScope:        localString(t, files, "api_scope"),
		AppRole:         localString(t, files, "app_role"),
	}
}

func TestIdentifiersAgreeWithTheHandler(t *testing.T) {
	files := parseTerraform(t)
	tf := terraformIdentifiers(t, files)
	for name, v := range map[string]string{"databricks_app_id": tf.DatabricksAppID, "databricks_scope": tf.DatabricksScope, "api_scope": tf.APIScope, "app_role": tf.AppRole} {
		if v == "" {
			t.Errorf("local.%s is empty", name)
		}
	}
	checkIdentifiers(t, "infra (locals.tf)", tf)

	t.Run("the connector asks for the scope the handler requires", func(t *testing.T) {
		var props struct {
			Properties struct {
				ConnectionParameters struct {
					Token struct {
						OAuthSettings struct {
							Scopes []string `json:"scopes"`
						} `json:"oAuthSettings"`
					} `json:"token"`
				} `json:"connectionParameters"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(connector.APIProperties(), &props); err != nil {
			t.Fatalf("connector/apiProperties.json: %v", err)
		}
		scopes := props.Properties.ConnectionParameters.Token.OAuthSettings.Scopes
		if len(scopes) != 1 {
			t.Fatalf("connector/apiProperties.json: want one scope, got %q", scopes)
		}
		checkIdentifiers(t, "connector/apiProperties.json", Identifiers{APIScope: scopes[0][strings.LastIndex(scopes[0], "/")+1:]})

		var def struct {
			SecurityDefinitions map[string]struct {
				Scopes map[string]string `json:"scopes"`
			} `json:"securityDefinitions"`
		}
		if err := json.Unmarshal(connector.APIDefinition(), &def); err != nil {
			t.Fatalf("connector/apiDefinition.swagger.json: %v", err)
		}
		for name, sd := range def.SecurityDefinitions {
			for scope := range sd.Scopes {
				checkIdentifiers(t, "connector/apiDefinition.swagger.json securityDefinitions."+name, Identifiers{APIScope: scope})
			}
		}

		// What Terraform tells the admin to paste into apiProperties.json builds the scope from
		// the same locals as the API registration.
		out := onlyBlock(t, files, "output", "connector_api_properties")
		found := false
		hclsyntax.VisitAll(out.Body, func(n hclsyntax.Node) hcl.Diagnostics {
			if tpl, ok := n.(*hclsyntax.TemplateExpr); ok && len(tpl.Parts) == 3 &&
				reference(tpl.Parts[0]) == "local.api_app_id_uri" && reference(tpl.Parts[2]) == "local.api_scope" {
				found = true
			}
			return nil
		})
		if !found {
			t.Error(`output connector_api_properties does not build its scope as "${local.api_app_id_uri}/${local.api_scope}"`)
		}
	})

	t.Run("the handler is told the same names Entra ID issues", func(t *testing.T) {
		settings := functionAppSettings(t, files)
		for setting, want := range map[string]string{
			"FLOWBRICKS_SCOPE":    "local.api_scope",
			"FLOWBRICKS_APP_ROLE": "local.app_role",
		} {
			if got := reference(settings[setting]); got != want {
				t.Errorf("app setting %s = %s, want %s", setting, describe(settings[setting]), want)
			}
		}
		api := onlyBlock(t, files, "resource", "azuread_application", "api")
		scope := nestedBlock(t, nestedBlock(t, api, "api"), "oauth2_permission_scope")
		if got := reference(attr(t, scope, "value")); got != "local.api_scope" {
			t.Errorf("the API's oauth2_permission_scope value = %s, want local.api_scope", describe(attr(t, scope, "value")))
		}
		if e := attr(t, nestedBlock(t, api, "app_role"), "value"); reference(e) != "local.app_role" {
			t.Errorf("the API's app_role value = %s, want local.app_role", describe(e))
		}
		rra := nestedBlock(t, api, "required_resource_access")
		if e := attr(t, rra, "resource_app_id"); reference(e) != "local.databricks_app_id" {
			t.Errorf("required_resource_access resource_app_id = %s, want local.databricks_app_id", describe(e))
		}
		db := onlyBlock(t, files, "data", "azuread_service_principal", "databricks")
		if e := attr(t, db, "client_id"); reference(e) != "local.databricks_app_id" {
			t.Errorf("the Databricks service principal lookup uses client_id = %s, want local.databricks_app_id", describe(e))
		}
	})

	t.Run("each identifier is written once, in locals.tf", func(t *testing.T) {
		// Everywhere else refers to the locals, so changing one changes it everywhere.
		homes := []string{"databricks_app_id", "databricks_scope", "api_scope", "app_role"}
		values := []string{tf.DatabricksAppID, tf.DatabricksScope, tf.APIScope, tf.AppRole}
		slices.Sort(values)
		values = slices.Compact(values)
		var home []hcl.Range
		for name, a := range locals(files) {
			if slices.Contains(homes, name) {
				home = append(home, a.Expr.Range())
			}
		}
		atHome := func(r hcl.Range) bool {
			return slices.ContainsFunc(home, func(h hcl.Range) bool {
				return h.Filename == r.Filename && h.Start.Byte <= r.Start.Byte && r.End.Byte <= h.End.Byte
			})
		}
		guid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-`)
		for _, f := range files {
			hclsyntax.VisitAll(f.body, func(n hclsyntax.Node) hcl.Diagnostics {
				lit, ok := n.(*hclsyntax.LiteralValueExpr)
				if !ok || lit.Val.Type() != cty.String || atHome(lit.Range()) {
					return nil
				}
				s := lit.Val.AsString()
				for _, v := range values {
					// The value itself, a path ending in it (".../user_impersonation"), or a GUID anywhere.
					if s == v || strings.HasSuffix(s, "/"+v) || (guid.MatchString(v) && strings.Contains(s, v)) {
						t.Errorf("%s: %q repeats an identifier; refer to its local instead", lit.Range(), s)
					}
				}
				return nil
			})
		}
	})
}

func TestEasyAuthFrontsTheHandler(t *testing.T) {
	files := parseTerraform(t)
	app := functionApp(t, files)
	auth := nestedBlock(t, app, "auth_settings_v2")

	for name, want := range map[string]cty.Value{
		"auth_enabled":           cty.True,
		"require_authentication": cty.True,
		"unauthenticated_action": cty.StringVal("Return401"),
		"require_https":          cty.True,
	} {
		if got := literal(t, attr(t, auth, name)); !got.RawEquals(want) {
			t.Errorf("auth_settings_v2.%s = %#v, want %#v", name, got, want)
		}
	}
	if got := localString(t, files, "health_path"); got != "/api/health" {
		t.Errorf("local.health_path = %q, want /api/health (the handler's liveness route)", got)
	}
	excluded, ok := attr(t, auth, "excluded_paths").(*hclsyntax.TupleConsExpr)
	if !ok || len(excluded.Exprs) != 1 || reference(excluded.Exprs[0]) != "local.health_path" {
		t.Errorf("auth_settings_v2.excluded_paths must be [local.health_path]")
	}
	// excluded_paths is documented for RedirectToLoginPage only, so the health check must not rely
	// on it: App Service's own health check is documented to work behind Easy Auth, and probes the
	// handler's liveness route over HTTPS (HTTPS Only, or it sees 307s) (functionapp.tf).
	if e := attr(t, nestedBlock(t, app, "site_config"), "health_check_path"); reference(e) != "local.health_path" {
		t.Errorf("site_config.health_check_path = %s, want local.health_path", describe(e))
	}
	if got := literal(t, attr(t, app, "https_only")); !got.RawEquals(cty.True) {
		t.Errorf("https_only = %#v: App Service's health check then gets 307 redirects", got)
	}
	aad := nestedBlock(t, auth, "active_directory_v2")
	if e := attr(t, aad, "allowed_audiences"); reference(e) != "local.api_audiences" {
		t.Errorf("Easy Auth allowed_audiences = %s, want local.api_audiences", describe(e))
	}
	// The handler must accept exactly the audiences Easy Auth lets through.
	aud := functionAppSettings(t, files)["FLOWBRICKS_AUDIENCES"]
	call, ok := aud.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "join" || len(call.Args) != 2 || reference(call.Args[1]) != "local.api_audiences" {
		t.Errorf("FLOWBRICKS_AUDIENCES must be join(\",\", local.api_audiences), the list Easy Auth uses")
	}

	// Easy Auth does not satisfy function keys, so the trigger must be anonymous.
	raw, err := os.ReadFile(filepath.Join("..", "function-trigger", "function.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fn struct {
		Bindings []struct{ Type, AuthLevel string } `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &fn); err != nil {
		t.Fatalf("function-trigger/function.json: %v", err)
	}
	for _, b := range fn.Bindings {
		if b.Type == "httpTrigger" && b.AuthLevel != "anonymous" {
			t.Errorf("function-trigger/function.json authLevel = %q; behind Easy Auth it must be anonymous", b.AuthLevel)
		}
	}
}

func TestTheManagedIdentityIsTheAPIsOnlyCredential(t *testing.T) {
	files := parseTerraform(t)
	for _, secretful := range []string{"azuread_application_password", "azuread_application_certificate", "azuread_service_principal_password", "azuread_service_principal_certificate"} {
		if bs := blocks(files, "resource", secretful); len(bs) > 0 {
			t.Errorf("%s creates a secret; the deployment must have none", secretful)
		}
	}
	fic := onlyBlock(t, files, "resource", "azuread_application_federated_identity_credential")
	for name, want := range map[string]string{
		"application_id": "azuread_application.api.id",
		"subject":        "azurerm_user_assigned_identity.api.principal_id",
		"issuer":         "local.tenant_issuer",
	} {
		if e := attr(t, fic, name); reference(e) != want {
			t.Errorf("federated credential %s = %s, want %s", name, describe(e), want)
		}
	}
	if got := localString(t, files, "token_exchange_audience"); got != "api://AzureADTokenExchange" {
		t.Errorf("local.token_exchange_audience = %q, want api://AzureADTokenExchange", got)
	}
	storage := onlyBlock(t, files, "resource", "azurerm_storage_account", "host")
	if got := literal(t, attr(t, storage, "shared_access_key_enabled")); !got.RawEquals(cty.False) {
		t.Error("the storage account must refuse shared keys (shared_access_key_enabled = false)")
	}
	if got := literal(t, attr(t, functionApp(t, files), "storage_uses_managed_identity")); !got.RawEquals(cty.True) {
		t.Error("the Function App must reach its storage with the managed identity")
	}
}

// ---------------------------------------------------------------------------------------------
// Evaluating Terraform expressions in tests

// evalTerraform evaluates a Terraform expression with the given values for var.*, local.* and
// resource attributes ("azuread_application.connector.client_id"), and the few Terraform
// functions these checks meet. A reference without a value fails the test.
func evalTerraform(t *testing.T, e hclsyntax.Expression, values map[string]cty.Value) (cty.Value, hcl.Diagnostics) {
	t.Helper()
	// Nest "a.b.c" = v into {a = {b = {c = v}}}.
	tree := map[string]any{}
	for path, v := range values {
		node := tree
		parts := strings.Split(path, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := node[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[p] = next
			}
			node = next
		}
		node[parts[len(parts)-1]] = v
	}
	var toValue func(any) cty.Value
	toValue = func(n any) cty.Value {
		if v, ok := n.(cty.Value); ok {
			return v
		}
		attrs := map[string]cty.Value{}
		for k, child := range n.(map[string]any) {
			attrs[k] = toValue(child)
		}
		return cty.ObjectVal(attrs)
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{},
		Functions: map[string]function.Function{
			"alltrue":  allTrueFunc,
			"can":      tryfunc.CanFunc,
			"concat":   stdlib.ConcatFunc,
			"distinct": stdlib.DistinctFunc,
			"regex":    stdlib.RegexFunc,
		},
	}
	for k, n := range tree {
		ctx.Variables[k] = toValue(n)
	}
	return e.Value(ctx)
}

// allTrueFunc is Terraform's alltrue(list of bool), which go-cty's stdlib does not have.
var allTrueFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for it := args[0].ElementIterator(); it.Next(); {
			if _, v := it.Element(); !v.True() {
				return cty.False, nil
			}
		}
		return cty.True, nil
	},
})

func stringList(s ...string) cty.Value {
	if len(s) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	var vs []cty.Value
	for _, v := range s {
		vs = append(vs, cty.StringVal(v))
	}
	return cty.ListVal(vs)
}

// variableValidation returns the condition of variable name's (only) validation block.
func variableValidation(t *testing.T, files []tfFile, name string) hclsyntax.Expression {
	t.Helper()
	return attr(t, nestedBlock(t, onlyBlock(t, files, "variable", name), "validation"), "condition")
}

// ---------------------------------------------------------------------------------------------
// Client applications and user assignment (docs/deploy.md, "Client applications allowed to act
// for users")

func TestOnlyListedClientApplicationsMayActForUsers(t *testing.T) {
	files := parseTerraform(t)

	t.Run("the handler is told the list", func(t *testing.T) {
		e, ok := functionAppSettings(t, files)["FLOWBRICKS_CLIENT_APPS"]
		if !ok {
			t.Fatal("FLOWBRICKS_CLIENT_APPS is not set: the handler would accept user tokens from any client application of the tenant")
		}
		call, ok := e.(*hclsyntax.FunctionCallExpr)
		if !ok || call.Name != "join" || len(call.Args) != 2 || reference(call.Args[1]) != "local.client_apps" {
			t.Errorf("FLOWBRICKS_CLIENT_APPS = %s, want join(\",\", local.client_apps)", describe(e))
		}
	})

	list, ok := locals(files)["client_apps"]
	if !ok {
		t.Fatal("no local.client_apps")
	}
	const connector, cli, extra = "11111111-1111-1111-1111-111111111111", "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "22222222-2222-2222-2222-222222222222"
	for _, tc := range []struct {
		name        string
		preauthCLI  bool
		clientApps  cty.Value
		want        []string
		description string
	}{
		{"the connector alone", false, stringList(), []string{connector}, "without the Azure CLI and without extra clients only the connector's own app registration may act for users"},
		{"the Azure CLI while it is pre-authorized", true, stringList(), []string{connector, cli}, "step 8 of docs/deploy.md needs it"},
		{"extra clients given", false, stringList(extra), []string{connector, extra}, ""},
		{"no duplicates", true, stringList(cli, extra, extra), []string{connector, cli, extra}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, diags := evalTerraform(t, list.Expr, map[string]cty.Value{
				"azuread_application.connector.client_id": cty.StringVal(connector),
				"local.azure_cli_app_id":                  cty.StringVal(cli),
				"var.preauthorize_azure_cli":              cty.BoolVal(tc.preauthCLI),
				"var.client_apps":                         tc.clientApps,
			})
			if diags.HasErrors() {
				t.Fatalf("local.client_apps: %s", diags.Error())
			}
			var got []string
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				got = append(got, e.AsString())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("local.client_apps = %q, want %q %s", got, tc.want, tc.description)
			}
		})
	}

	t.Run("client_apps takes only application ids", func(t *testing.T) {
		cond := variableValidation(t, files, "client_apps")
		for _, tc := range []struct {
			ids  cty.Value
			want bool
		}{
			{stringList(), true},
			{stringList(extra, strings.ToUpper(extra)), true},
			{stringList("flowbricks-connector"), false},
			{stringList(extra, "api://"+extra), false},
			{stringList(extra + ",33333333-3333-3333-3333-333333333333"), false},
			{stringList(""), false},
		} {
			v, diags := evalTerraform(t, cond, map[string]cty.Value{"var.client_apps": tc.ids})
			if diags.HasErrors() {
				t.Fatalf("validation of client_apps: %s", diags.Error())
			}
			if v.True() != tc.want {
				t.Errorf("client_apps = %#v: validation says %v, want %v", tc.ids, v.True(), tc.want)
			}
		}
	})
}

func TestUserAssignmentCanBeRequired(t *testing.T) {
	files := parseTerraform(t)
	sp := onlyBlock(t, files, "resource", "azuread_service_principal", "api")
	if e := attr(t, sp, "app_role_assignment_required"); reference(e) != "var.require_user_assignment" {
		t.Errorf("the API's service principal app_role_assignment_required = %s, want var.require_user_assignment", describe(e))
	}
	v := onlyBlock(t, files, "variable", "require_user_assignment")
	if got := literal(t, attr(t, v, "default")); !got.RawEquals(cty.False) {
		t.Errorf("require_user_assignment defaults to %#v; docs/deploy.md documents false", got)
	}
	// With assignment required, an app-only caller without an assignment gets no token at all:
	// the sample Logic App's identity must keep its Jobs.Run assignment on the API.
	ra := onlyBlock(t, files, "resource", "azuread_app_role_assignment", "logic_app")
	if e := attr(t, ra, "resource_object_id"); reference(e) != "azuread_service_principal.api.object_id" {
		t.Errorf("the sample Logic App's app role assignment is on %s, want azuread_service_principal.api.object_id", describe(e))
	}
}

// ---------------------------------------------------------------------------------------------
// Provider schemas
//
// `terraform validate` needs the provider plug-ins, which cannot be downloaded where flowbricks
// is built and tested. These checks do the part of it that catches most mistakes, offline: every
// argument and nested block of every provider, resource and data block must be one the provider
// release pinned in versions.tf accepts, and every required one must be set. The names come from
// schema/providers.json, which schema/extract.mjs writes from the providers' CDK for Terraform
// bindings (generated from `terraform providers schema -json`); see that script's header.
// Argument values and exported attributes are not checked.

// schemaFile is written by schema/extract.mjs; regenerateSchema says how.
const (
	schemaFile       = "schema/providers.json"
	regenerateSchema = "run `node infra/schema/extract.mjs` from the repository root"
)

// uncheckedProviders are providers whose types the extract does not hold, with the reason. A
// type of any other provider missing from the extract fails the test.
var uncheckedProviders = map[string]string{
	"random": "hashicorp/random has no binding among the two packages the extract reads; infra uses only random_uuid (no arguments) and random_string (length, upper, special)",
}

// providerSchema is schema/providers.json.
type providerSchema struct {
	Providers map[string]struct {
		Source  string `json:"source"`
		Version string `json:"version"`
		From    string `json:"from"`
	} `json:"providers"`
	Provider map[string]*blockSchema `json:"provider"`
	Resource map[string]*blockSchema `json:"resource"`
	Data     map[string]*blockSchema `json:"data"`
}

// blockSchema is what one block accepts. A nil entry in Blocks is a nested block the provider
// has but the extract did not descend into, because infra did not use it when it was written.
type blockSchema struct {
	Arguments []string                `json:"arguments"`
	Required  []string                `json:"required"`
	Blocks    map[string]*blockSchema `json:"blocks"`
}

func (s *blockSchema) isArgument(name string) bool { return slices.Contains(s.Arguments, name) }

func (s *blockSchema) isBlock(name string) bool {
	_, ok := s.Blocks[name]
	return ok
}

func loadProviderSchema(t *testing.T) *providerSchema {
	t.Helper()
	raw, err := os.ReadFile(filepath.FromSlash(schemaFile))
	if err != nil {
		t.Fatalf("%v (%s)", err, regenerateSchema)
	}
	var s providerSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	return &s
}

// Meta-arguments: what Terraform itself accepts in a block besides the provider's names
// (developer.hashicorp.com/terraform/language/meta-arguments; lifecycle: .../meta-arguments/lifecycle).
// connection and provisioner bodies belong to the provisioner, not to a provider: they are
// accepted and not looked into.
var (
	resourceMetaArguments = []string{"count", "for_each", "depends_on", "provider"}
	resourceMetaBlocks    = []string{"lifecycle", "connection", "provisioner"}
	dataMetaArguments     = []string{"count", "for_each", "depends_on", "provider"}
	dataMetaBlocks        = []string{"lifecycle"}
	providerMetaArguments = []string{"alias"}

	resourceLifecycle = metaBody{
		arguments: []string{"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"},
		blocks:    []string{"precondition", "postcondition"},
	}
	dataLifecycle = metaBody{blocks: []string{"precondition", "postcondition"}}
	condition     = metaBody{arguments: []string{"condition", "error_message"}, required: []string{"condition", "error_message"}}
	// dynamic "<block>" { for_each = …, iterator = …, labels = […], content { … } }
	// (developer.hashicorp.com/terraform/language/expressions/dynamic-blocks).
	dynamicBlock = metaBody{arguments: []string{"for_each", "iterator", "labels"}, blocks: []string{"content"}, required: []string{"for_each", "content"}}
)

// metaBody is the fixed shape of a block Terraform defines (lifecycle, dynamic, …).
type metaBody struct{ arguments, blocks, required []string }

// schemaChecker collects every mismatch between Terraform blocks and the provider schema.
type schemaChecker struct {
	schema   *providerSchema
	problems []string
	used     map[string]bool // "resource azurerm_x" etc., to find stale entries in the extract
}

func (c *schemaChecker) problem(r hcl.Range, format string, args ...any) {
	c.problems = append(c.problems, r.String()+": "+fmt.Sprintf(format, args...))
}

// checkFile checks every provider, resource and data block of one file.
func (c *schemaChecker) checkFile(body *hclsyntax.Body) {
	for _, b := range body.Blocks {
		switch b.Type {
		case "provider":
			c.checkTop(b, "provider", c.schema.Provider, providerMetaArguments, nil, metaBody{})
		case "resource":
			c.checkTop(b, "resource", c.schema.Resource, resourceMetaArguments, resourceMetaBlocks, resourceLifecycle)
		case "data":
			c.checkTop(b, "data", c.schema.Data, dataMetaArguments, dataMetaBlocks, dataLifecycle)
		}
	}
}

func (c *schemaChecker) checkTop(b *hclsyntax.Block, kind string, schemas map[string]*blockSchema, metaArgs, metaBlocks []string, lifecycle metaBody) {
	if len(b.Labels) == 0 {
		return // the parser reports it
	}
	typ := b.Labels[0]
	what := kind + " " + typ
	c.used[what] = true
	s := schemas[typ]
	if s == nil {
		provider, _, _ := strings.Cut(typ, "_")
		if _, ok := uncheckedProviders[provider]; ok {
			return
		}
		c.problem(b.TypeRange, "%s is not in %s: a misspelt type, or %s", what, schemaFile, regenerateSchema)
		return
	}
	name := what
	if len(b.Labels) > 1 {
		name += "." + b.Labels[1]
	}
	c.checkBody(b.Body, s, name, metaArgs, func(nb *hclsyntax.Block) bool {
		if !slices.Contains(metaBlocks, nb.Type) {
			return false
		}
		if nb.Type == "lifecycle" {
			c.checkMeta(nb, lifecycle, name)
			c.checkIgnoreChanges(nb, s, name)
		}
		return true
	})
}

// checkBody checks one block body against its schema. meta lists the meta-arguments allowed
// at this level; metaBlock reports (and checks) a meta block allowed here.
func (c *schemaChecker) checkBody(body *hclsyntax.Body, s *blockSchema, where string, meta []string, metaBlock func(*hclsyntax.Block) bool) {
	set := map[string]bool{}
	for name, a := range body.Attributes {
		set[name] = true
		switch {
		case s.isArgument(name) || slices.Contains(meta, name):
		case s.isBlock(name):
			c.problem(a.NameRange, "%s: %s is a block, not an argument: write `%s { … }`", where, name, name)
		default:
			c.problem(a.NameRange, "%s: unknown argument %s", where, name)
		}
	}
	for _, nb := range body.Blocks {
		if metaBlock != nil && metaBlock(nb) {
			continue
		}
		name, content := nb.Type, nb.Body
		if nb.Type == "dynamic" {
			if len(nb.Labels) != 1 {
				c.problem(nb.TypeRange, "%s: a dynamic block needs one label, the block it generates", where)
				continue
			}
			name = nb.Labels[0]
			c.checkMeta(nb, dynamicBlock, where)
			content = nil
			for _, cb := range nb.Body.Blocks {
				if cb.Type == "content" {
					content = cb.Body
				}
			}
		}
		set[name] = true
		sub, isBlock := s.Blocks[name]
		switch {
		case !isBlock && s.isArgument(name):
			c.problem(nb.TypeRange, "%s: %s is an argument, not a block: write `%s = …`", where, name, name)
			continue
		case !isBlock:
			c.problem(nb.TypeRange, "%s: unknown block %s", where, name)
			continue
		case sub == nil:
			c.problem(nb.TypeRange, "%s: %s has no names for block %s (infra did not use it when the file was written): %s", where, schemaFile, name, regenerateSchema)
			continue
		}
		if content != nil {
			c.checkBody(content, sub, where+"."+name, nil, nil)
		}
	}
	for _, name := range s.Required {
		if !set[name] {
			c.problem(body.SrcRange, "%s: required %s %s is not set", where, kindOf(s, name), name)
		}
	}
}

func kindOf(s *blockSchema, name string) string {
	if s.isBlock(name) {
		return "block"
	}
	return "argument"
}

// checkMeta checks a block whose shape Terraform itself defines.
func (c *schemaChecker) checkMeta(b *hclsyntax.Block, m metaBody, where string) {
	where += "." + b.Type
	set := map[string]bool{}
	for name, a := range b.Body.Attributes {
		set[name] = true
		if !slices.Contains(m.arguments, name) {
			c.problem(a.NameRange, "%s: unknown argument %s", where, name)
		}
	}
	for _, nb := range b.Body.Blocks {
		set[nb.Type] = true
		switch {
		case !slices.Contains(m.blocks, nb.Type):
			c.problem(nb.TypeRange, "%s: unknown block %s", where, nb.Type)
		case nb.Type == "precondition" || nb.Type == "postcondition":
			c.checkMeta(nb, condition, where)
		}
	}
	for _, name := range m.required {
		if !set[name] {
			c.problem(b.Body.SrcRange, "%s: required %s is not set", where, name)
		}
	}
}

// checkIgnoreChanges checks that lifecycle.ignore_changes names the resource's own arguments:
// Terraform rejects any other name, and a misspelt one would otherwise ignore nothing.
func (c *schemaChecker) checkIgnoreChanges(lifecycle *hclsyntax.Block, s *blockSchema, where string) {
	a, ok := lifecycle.Body.Attributes["ignore_changes"]
	if !ok {
		return
	}
	tuple, ok := a.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		return // `all`, the only other form
	}
	for _, e := range tuple.Exprs {
		tr, diags := hcl.AbsTraversalForExpr(e)
		if diags.HasErrors() || len(tr) == 0 {
			c.problem(e.Range(), "%s: ignore_changes entries must be argument names", where)
			continue
		}
		if root := tr.RootName(); !s.isArgument(root) && !s.isBlock(root) {
			c.problem(e.Range(), "%s: ignore_changes names %s, which is not an argument or block of this resource", where, root)
		}
	}
}

// staleEntries lists types the extract holds that no Terraform block uses any more.
func (c *schemaChecker) staleEntries() []string {
	var stale []string
	for kind, m := range map[string]map[string]*blockSchema{"provider": c.schema.Provider, "resource": c.schema.Resource, "data": c.schema.Data} {
		for typ := range m {
			if !c.used[kind+" "+typ] {
				stale = append(stale, kind+" "+typ)
			}
		}
	}
	sort.Strings(stale)
	return stale
}

func checkSchema(s *providerSchema, bodies ...*hclsyntax.Body) *schemaChecker {
	c := &schemaChecker{schema: s, used: map[string]bool{}}
	for _, b := range bodies {
		c.checkFile(b)
	}
	return c
}

// ---------------------------------------------------------------------------------------------

func TestTerraformUsesOnlyNamesTheProvidersAccept(t *testing.T) {
	files := parseTerraform(t)
	var bodies []*hclsyntax.Body
	for _, f := range files {
		bodies = append(bodies, f.body)
	}
	c := checkSchema(loadProviderSchema(t), bodies...)
	for _, p := range c.problems {
		t.Error(p)
	}
	if stale := c.staleEntries(); len(stale) > 0 {
		t.Errorf("%s holds %s, which infra no longer uses: %s", schemaFile, strings.Join(stale, ", "), regenerateSchema)
	}
}

// The extract is of one release per provider; versions.tf must not allow an older minor
// release (which may lack a name the extract has) nor another major one.
func TestProviderVersionsAreTheOnesTheSchemaWasExtractedFrom(t *testing.T) {
	files := parseTerraform(t)
	s := loadProviderSchema(t)
	tf := onlyBlock(t, files, "terraform")
	required := nestedBlock(t, tf, "required_providers")
	if len(s.Providers) == 0 {
		t.Fatalf("%s names no provider release", schemaFile)
	}
	for name, p := range s.Providers {
		a, ok := required.Body.Attributes[name]
		if !ok {
			t.Errorf("versions.tf does not require provider %s", name)
			continue
		}
		v := literal(t, a.Expr)
		if !v.Type().IsObjectType() || !v.Type().HasAttribute("source") || !v.Type().HasAttribute("version") {
			t.Errorf("versions.tf: %s must be { source = …, version = … }", name)
			continue
		}
		if got := v.GetAttr("source"); !got.RawEquals(cty.StringVal(p.Source)) {
			t.Errorf("versions.tf: %s source = %#v, the extract is of %s", name, got, p.Source)
		}
		m := regexp.MustCompile(`^(\d+)\.(\d+)\.\d+$`).FindStringSubmatch(p.Version)
		if m == nil {
			t.Errorf("%s: %s version %q is not x.y.z", schemaFile, name, p.Version)
			continue
		}
		want := fmt.Sprintf("~> %s.%s", m[1], m[2])
		if got := v.GetAttr("version"); !got.RawEquals(cty.StringVal(want)) {
			t.Errorf("versions.tf: %s version = %#v; the names were checked against %s %s (%s), so require %q", name, got, p.Source, p.Version, p.From, want)
		}
	}
}

// The checker's rules, each shown failing on a small configuration.
func TestSchemaCheckerRejects(t *testing.T) {
	schema := &providerSchema{
		Provider: map[string]*blockSchema{
			"azurerm": {Arguments: []string{"subscription_id"}, Blocks: map[string]*blockSchema{
				"features": {Blocks: map[string]*blockSchema{"storage": {Arguments: []string{"data_plane_available"}}}},
			}},
		},
		Resource: map[string]*blockSchema{
			"azurerm_linux_function_app": {
				Arguments: []string{"name", "app_settings", "tags"},
				Required:  []string{"name", "site_config"},
				Blocks: map[string]*blockSchema{
					"site_config": {Arguments: []string{"always_on"}, Blocks: map[string]*blockSchema{
						"application_stack": {Arguments: []string{"use_custom_runtime"}},
						"cors":              nil, // not extracted
					}},
					"identity": {Arguments: []string{"type"}, Required: []string{"type"}},
				},
			},
		},
		Data: map[string]*blockSchema{
			"azuread_client_config": {Arguments: []string{"id"}},
		},
	}
	const valid = `
provider "azurerm" {
  alias = "second"
  features {
    storage { data_plane_available = false }
  }
}
resource "azurerm_linux_function_app" "api" {
  count      = 1
  depends_on = []
  provider   = azurerm.second
  name       = "x"
  site_config {
    always_on = true
    dynamic "application_stack" {
      for_each = [1]
      content { use_custom_runtime = true }
    }
  }
  lifecycle {
    ignore_changes        = [tags, site_config[0].always_on]
    create_before_destroy = true
    precondition {
      condition     = true
      error_message = "x"
    }
  }
}
data "azuread_client_config" "current" {
  lifecycle {
    postcondition {
      condition     = true
      error_message = "x"
    }
  }
}
resource "random_uuid" "id" { anything = 1 }
`
	for _, tc := range []struct {
		name string
		hcl  string // replaces "name = \"x\"" in the valid configuration's resource
		top  string // appended at the top level instead
		want string // in the one problem reported; "" = none
	}{
		{name: "the valid configuration", want: ""},
		{name: "an unknown argument", hcl: `name = "x"` + "\n  bogus = 1", want: "unknown argument bogus"},
		{name: "an unknown nested block", hcl: `name = "x"` + "\n  bogus {}", want: "unknown block bogus"},
		{name: "an unknown argument in a nested block", hcl: `name = "x"` + "\n  identity {\n type = \"x\"\n bogus = 1\n}", want: "azurerm_linux_function_app.api.identity: unknown argument bogus"},
		{name: "an unknown argument two blocks down", top: "resource \"azurerm_linux_function_app\" \"b\" {\n name = \"x\"\n site_config {\n application_stack {\n bogus = 1\n }\n }\n}", want: "site_config.application_stack: unknown argument bogus"},
		{name: "an unknown argument inside a dynamic block's content", top: "resource \"azurerm_linux_function_app\" \"b\" {\n name = \"x\"\n site_config {\n dynamic \"application_stack\" {\n for_each = []\n content {\n bogus = 1\n }\n }\n }\n}", want: "site_config.application_stack: unknown argument bogus"},
		{name: "a dynamic block for a name that is no block", hcl: `name = "x"` + "\n  dynamic \"bogus\" {\n for_each = []\n content {}\n }", want: "unknown block bogus"},
		{name: "a dynamic block without content", hcl: `name = "x"` + "\n  dynamic \"identity\" {\n for_each = []\n }", want: "dynamic: required content is not set"},
		{name: "an unknown argument of a dynamic block itself", hcl: `name = "x"` + "\n  dynamic \"identity\" {\n for_each = []\n bogus = 1\n content { type = \"x\" }\n }", want: "dynamic: unknown argument bogus"},
		{name: "a block written as an argument", hcl: `name = "x"` + "\n  identity = { type = \"x\" }", want: "identity is a block, not an argument"},
		{name: "an argument written as a block", hcl: `name = "x"` + "\n  tags {}", want: "tags is an argument, not a block"},
		{name: "a missing required argument", hcl: `tags = {}`, want: "required argument name is not set"},
		{name: "a missing required argument in a nested block", hcl: `name = "x"` + "\n  identity {}", want: "identity: required argument type is not set"},
		{name: "a block the extract did not descend into", hcl: `name = "x"` + "\n  site_config {\n cors {}\n }", want: "has no names for block cors"},
		{name: "an unknown lifecycle argument", hcl: `name = "x"` + "\n  lifecycle {\n bogus = true\n }", want: "lifecycle: unknown argument bogus"},
		{name: "ignore_changes naming no argument", hcl: `name = "x"` + "\n  lifecycle {\n ignore_changes = [bogus]\n }", want: "ignore_changes names bogus"},
		{name: "a precondition without error_message", hcl: `name = "x"` + "\n  lifecycle {\n precondition {\n condition = true\n }\n }", want: "required error_message is not set"},
		{name: "a resource-only lifecycle argument on a data source", top: "data \"azuread_client_config\" \"b\" {\n lifecycle {\n prevent_destroy = true\n }\n}", want: "lifecycle: unknown argument prevent_destroy"},
		{name: "a resource-only meta block on a data source", top: "data \"azuread_client_config\" \"b\" {\n provisioner \"local-exec\" {}\n}", want: "unknown block provisioner"},
		{name: "an unknown provider argument", top: "provider \"azurerm\" {\n bogus = 1\n}", want: "provider azurerm: unknown argument bogus"},
		{name: "an unknown provider feature", top: "provider \"azurerm\" {\n features {\n storage {\n bogus = 1\n }\n }\n}", want: "features.storage: unknown argument bogus"},
		{name: "a resource type the extract does not hold", top: `resource "azurerm_linux_functon_app" "b" {}`, want: "resource azurerm_linux_functon_app is not in"},
		{name: "a data source type the extract does not hold", top: `data "azuread_bogus" "b" {}`, want: "data azuread_bogus is not in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := valid
			if tc.hcl != "" {
				src = strings.Replace(src, `name       = "x"`, tc.hcl, 1)
			}
			src += tc.top
			f, diags := hclsyntax.ParseConfig([]byte(src), "test.tf", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatalf("test configuration: %s", diags.Error())
			}
			got := checkSchema(schema, f.Body.(*hclsyntax.Body)).problems
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("want no problem, got %q", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("want one problem containing %q, got %q", tc.want, got)
			}
		})
	}

	t.Run("an extract entry no block uses", func(t *testing.T) {
		f, diags := hclsyntax.ParseConfig([]byte(`provider "azurerm" {}`), "test.tf", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		stale := checkSchema(schema, f.Body.(*hclsyntax.Body)).staleEntries()
		if want := []string{"data azuread_client_config", "resource azurerm_linux_function_app"}; !slices.Equal(stale, want) {
			t.Errorf("stale = %q, want %q", stale, want)
		}
	})
}
