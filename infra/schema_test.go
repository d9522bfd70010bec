package infra

// `terraform validate` needs the provider plug-ins, which cannot be downloaded where flowbricks
// is built and tested. These tests do the part of it that catches most mistakes, offline: every
// argument and nested block of every provider, resource and data block must be one the provider
// release pinned in versions.tf accepts, and every required one must be set. The names come from
// schema/providers.json, which schema/extract.mjs writes from the providers' CDK for Terraform
// bindings (generated from `terraform providers schema -json`); see that script's header.
// Argument values and exported attributes are not checked.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

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
