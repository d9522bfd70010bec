package connector

import (
	"bytes"
	"encoding/json"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/config"
)

var update = flag.Bool("update", false, "rewrite icon.png from DrawIcon")

// apiProperties is the part of apiProperties.json the checks read.
type oAuthSettings struct {
	IdentityProvider string   `json:"identityProvider"`
	ClientID         string   `json:"clientId"`
	Scopes           []string `json:"scopes"`
	RedirectMode     string   `json:"redirectMode"`
	Properties       struct {
		AzureActiveDirectoryResourceID string `json:"AzureActiveDirectoryResourceId"`
		IsOnbehalfofLoginSupported     *bool  `json:"IsOnbehalfofLoginSupported"`
	} `json:"properties"`
	CustomParameters map[string]struct {
		Value string `json:"value"`
	} `json:"customParameters"`
}

func readProperties(t *testing.T) (map[string]any, oAuthSettings, string) {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(APIProperties(), &raw); err != nil {
		t.Fatalf("apiProperties.json is not JSON: %v", err)
	}
	var typed struct {
		Properties struct {
			ConnectionParameters struct {
				Token struct {
					Type          string        `json:"type"`
					OAuthSettings oAuthSettings `json:"oAuthSettings"`
				} `json:"token"`
			} `json:"connectionParameters"`
			IconBrandColor string `json:"iconBrandColor"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(APIProperties(), &typed); err != nil {
		t.Fatal(err)
	}
	if got := typed.Properties.ConnectionParameters.Token.Type; got != "oauthSetting" {
		t.Errorf("connectionParameters.token.type = %q, want oauthSetting", got)
	}
	return raw, typed.Properties.ConnectionParameters.Token.OAuthSettings, typed.Properties.IconBrandColor
}

func TestAPIPropertiesSignInWithEntraID(t *testing.T) {
	raw, o, _ := readProperties(t)

	if o.IdentityProvider != "aad" {
		t.Errorf("identityProvider = %q, want aad (Microsoft Entra ID)", o.IdentityProvider)
	}
	if o.RedirectMode != "GlobalPerConnector" {
		t.Errorf("redirectMode = %q, want GlobalPerConnector", o.RedirectMode)
	}
	if o.ClientID == "" {
		t.Error("clientId (the connector's app registration) is empty")
	}

	// One delegated scope: the flowbricks API's App ID URI + the scope the handler requires.
	if len(o.Scopes) != 1 {
		t.Fatalf("scopes = %v, want exactly the flowbricks API's scope", o.Scopes)
	}
	resource, ok := strings.CutSuffix(o.Scopes[0], "/"+config.DefaultScope)
	if !ok || !strings.HasPrefix(resource, "api://") {
		t.Fatalf("scope %q is not api://<flowbricks API>/%s", o.Scopes[0], config.DefaultScope)
	}
	// The token's audience (resource) is the API the scope belongs to, in both places Power
	// Platform reads it from.
	if got := o.Properties.AzureActiveDirectoryResourceID; got != resource {
		t.Errorf("properties.AzureActiveDirectoryResourceId = %q, want %q (the scope's App ID URI)", got, resource)
	}
	if got := o.CustomParameters["resourceUri"].Value; got != resource {
		t.Errorf("customParameters.resourceUri = %q, want %q (the scope's App ID URI)", got, resource)
	}
	if got := o.CustomParameters["loginUri"].Value; got != strings.TrimSuffix(azure.PublicAuthorityHost, "/") {
		t.Errorf("customParameters.loginUri = %q, want %q", got, strings.TrimSuffix(azure.PublicAuthorityHost, "/"))
	}
	if o.CustomParameters["tenantId"].Value == "" {
		t.Error("customParameters.tenantId is empty")
	}

	// On-behalf-of login is supported; whether it is on is a choice (docs/connector.md), but it
	// must be one Power Platform understands: the strings "true" or "false".
	if o.Properties.IsOnbehalfofLoginSupported == nil || !*o.Properties.IsOnbehalfofLoginSupported {
		t.Error("properties.IsOnbehalfofLoginSupported must be true")
	}
	if v := o.CustomParameters["enableOnbehalfOfLogin"].Value; v != "true" && v != "false" {
		t.Errorf("customParameters.enableOnbehalfOfLogin = %q, want \"true\" or \"false\"", v)
	}

	t.Run("no secret in the file", func(t *testing.T) {
		// The connector's client secret is given to paconn/pac at import (--secret) or pasted
		// in the portal; it never lives in the repository.
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, child := range v {
					lk := strings.ToLower(k)
					if strings.Contains(lk, "secret") || strings.Contains(lk, "password") || lk == "key" || strings.HasSuffix(lk, "apikey") {
						t.Errorf("%s.%s: apiProperties.json must not hold a secret", path, k)
					}
					walk(path+"."+k, child)
				}
			case []any:
				for i, child := range v {
					walk(path+"["+strconv.Itoa(i)+"]", child)
				}
			}
		}
		walk("$", raw)
	})

	t.Run("only what paconn accepts", func(t *testing.T) {
		// paconn's apiProperties schema (microsoft/PowerPlatformConnectors,
		// schemas/paconn-apiProperties.schema.json) allows exactly these keys under properties.
		allowed := []string{"iconBrandColor", "publisher", "stackOwner", "capabilities", "connectionParameters", "policyTemplateInstances"}
		props, _ := raw["properties"].(map[string]any)
		for k := range props {
			if !slices.Contains(allowed, k) {
				t.Errorf("properties.%s is not an apiProperties key paconn accepts (%v)", k, allowed)
			}
		}
		for k := range raw {
			if k != "properties" {
				t.Errorf("top-level key %q: apiProperties.json holds only properties", k)
			}
		}
		if caps, _ := props["capabilities"].([]any); !slices.Contains(caps, any("actions")) {
			t.Errorf("capabilities = %v, want actions", props["capabilities"])
		}
	})
}

// TestAPIPropertiesNameThePublisher: Microsoft's certified-connector template
// (templates/certified-connectors/apiProperties.json) has publisher ("Name of company or
// organization") and stackOwner ("Name of the owner of the service or product"). The committed
// defaults name the flowbricks project; the import sets an organisation's own (docs/connector.md,
// "Who stands behind the connector"), and paconn's limitation with stackOwner is documented there.
func TestAPIPropertiesNameThePublisher(t *testing.T) {
	var props struct {
		Properties struct {
			Publisher  *string `json:"publisher"`
			StackOwner *string `json:"stackOwner"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(APIProperties(), &props); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*string{"publisher": props.Properties.Publisher, "stackOwner": props.Properties.StackOwner} {
		switch {
		case v == nil:
			t.Errorf("properties.%s is missing", name)
		case *v != config.DefaultContactName:
			t.Errorf("properties.%s = %q, want the default %q (the connector's contact name)", name, *v, config.DefaultContactName)
		}
	}
}

// brandColor parses iconBrandColor (#rrggbb).
func brandColor(t *testing.T) color.RGBA {
	t.Helper()
	_, _, hex := readProperties(t)
	if !regexp.MustCompile(`^#[0-9a-fA-F]{6}$`).MatchString(hex) {
		t.Fatalf("iconBrandColor %q is not #rrggbb", hex)
	}
	n, _ := strconv.ParseUint(hex[1:], 16, 32)
	c := color.RGBA{uint8(n >> 16), uint8(n >> 8), uint8(n), 0xff}
	if c == (color.RGBA{0xff, 0xff, 0xff, 0xff}) {
		t.Fatal("iconBrandColor must not be white: the designer draws the icon on it")
	}
	return c
}

// TestIcon keeps icon.png equal, pixel for pixel, to DrawIcon on the brand colour. After changing
// either, regenerate it with
//
//	go test ./connector -run TestIcon -update
func TestIcon(t *testing.T) {
	want := DrawIcon(brandColor(t))
	if *update {
		var buf bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, want); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("icon.png", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote icon.png (%d bytes); rebuild to embed it", buf.Len())
		return
	}

	committed, err := os.ReadFile("icon.png")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, Icon()) {
		t.Fatal("the embedded icon differs from icon.png")
	}
	if len(committed) >= 100<<10 {
		t.Errorf("icon.png is %d bytes, want under 100 KB", len(committed))
	}
	img, format, err := image.Decode(bytes.NewReader(committed))
	if err != nil || format != "png" {
		t.Fatalf("icon.png is not a PNG: %v (%s)", err, format)
	}
	if b := img.Bounds(); b.Dx() != IconSize || b.Dy() != IconSize {
		t.Fatalf("icon.png is %dx%d, want %dx%d", b.Dx(), b.Dy(), IconSize, IconSize)
	}
	for y := range IconSize {
		for x := range IconSize {
			if color.RGBAModel.Convert(img.At(x, y)) != want.At(x, y) {
				t.Fatalf("icon.png differs from DrawIcon at (%d,%d); regenerate it with: go test ./connector -run TestIcon -update", x, y)
			}
		}
	}
}

func TestPaconnSettings(t *testing.T) {
	raw, err := os.ReadFile("settings.json")
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("settings.json is not JSON: %v", err)
	}
	// The keys paconn's settings schema (schemas/paconn-settings.schema.json) allows; all strings.
	allowed := []string{"connectorId", "environment", "apiProperties", "apiDefinition", "icon", "script",
		"powerAppsUrl", "powerAppsApiVersion", "flowUrl", "flowApiVersion"}
	for k, v := range s {
		if !slices.Contains(allowed, k) {
			t.Errorf("settings.json: %q is not a paconn setting", k)
		}
		if _, ok := v.(string); !ok {
			t.Errorf("settings.json: %s must be a string, is %v", k, v)
		}
	}
	for _, k := range []string{"apiProperties", "apiDefinition", "icon"} {
		name, _ := s[k].(string)
		if _, err := os.Stat(filepath.Join(".", name)); name == "" || err != nil {
			t.Errorf("settings.json: %s = %q does not name a file in connector/", k, name)
		}
	}
}

func TestAPIDefinitionIsEmbedded(t *testing.T) {
	onDisk, err := os.ReadFile("apiDefinition.swagger.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, APIDefinition()) {
		t.Error("the embedded definition differs from apiDefinition.swagger.json")
	}
	var doc struct {
		Swagger  string `json:"swagger"`
		Host     string `json:"host"`
		BasePath string `json:"basePath"`
	}
	if err := json.Unmarshal(onDisk, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" || doc.Host == "" || doc.BasePath != "/api" {
		t.Errorf("swagger %q host %q basePath %q", doc.Swagger, doc.Host, doc.BasePath)
	}
}
