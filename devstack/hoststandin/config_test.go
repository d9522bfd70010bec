package hoststandin

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRepoFilesAreAccepted: flowbricks' own host.json and function-trigger/function.json describe what the
// stand-in (and func start) need: forwarding mode, bin/flowbricks, one anonymous GET/POST catch-all under /api.
func TestRepoFilesAreAccepted(t *testing.T) {
	var notes []string
	a, err := loadApp("../..", os.Environ(), func(n string) { notes = append(notes, n) })
	if err != nil {
		t.Fatalf("repo app rejected: %v", err)
	}
	repoRoot, err := filepath.Abs("../..")
	must(t, err)
	if a.legacy || a.executable != "bin/flowbricks" || len(a.args) != 0 || a.workingDir != repoRoot {
		t.Errorf("handler = legacy:%v %q %q in %q, want customHandler bin/flowbricks, no arguments, in the repo root", a.legacy, a.executable, a.args, a.workingDir)
	}
	if a.routePrefix != "api" {
		t.Errorf("routePrefix = %q, want api", a.routePrefix)
	}
	if a.invokeTimeout != 11*time.Minute {
		t.Errorf("handler call timeout = %v, want functionTimeout 10m + 1m", a.invokeTimeout)
	}
	if len(a.functions) != 1 {
		t.Fatalf("functions = %d, want 1", len(a.functions))
	}
	fn := a.functions[0]
	if fn.name != "function-trigger" || fn.authLevel != "anonymous" || fn.route != "{*path}" || !slices.Equal(fn.methods, []string{"GET", "POST"}) {
		t.Errorf("function = %s authLevel=%s route=%q methods=%v, want function-trigger anonymous {*path} [GET POST]", fn.name, fn.authLevel, fn.route, fn.methods)
	}
	for _, path := range []string{"/api/jobs/run-now", "/api/jobs/runs/5001/output", "/api/openapi.json", "/api/health", "/api"} {
		if !fn.template.match(path) {
			t.Errorf("route does not match %s", path)
		}
	}
	if len(notes) != 0 {
		t.Errorf("unexpected notes for the repo app: %q", notes)
	}
}

// TestLocalSettingsSample: the sample settings load and carry placeholders only.
func TestLocalSettingsSample(t *testing.T) {
	env, err := LoadSettings("../../local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	// FUNCTIONS_WORKER_RUNTIME is spelled as Microsoft's app settings reference spells it
	// (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
	for _, want := range []string{"FUNCTIONS_WORKER_RUNTIME=custom", "AzureWebJobsStorage=", "AZURE_TENANT_ID=<tenant-guid>"} {
		if !slices.Contains(env, want) {
			t.Errorf("settings %q lack %q", env, want)
		}
	}
	for _, kv := range env {
		if name, value, _ := strings.Cut(kv, "="); strings.Contains(name, "SECRET") && !strings.HasPrefix(value, "<") {
			t.Errorf("%s holds something other than a <placeholder>", name)
		}
	}
}

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
		wantErr string
	}{
		{name: "values in name order", content: `{"IsEncrypted":false,"Values":{"B":"2","A":"1","EMPTY":""},"Host":{"LocalHttpPort":7071}}`, want: []string{"A=1", "B=2", "EMPTY="}},
		{name: "no values", content: `{"IsEncrypted":false}`, want: []string{}},
		{name: "encrypted file refused", content: `{"IsEncrypted":true,"Values":{}}`, wantErr: "IsEncrypted"},
		{name: "non-string value refused without echoing it", content: `{"Values":{"AZURE_CLIENT_SECRET":12345}}`, wantErr: "Values.AZURE_CLIENT_SECRET must be a string"},
		{name: "not JSON", content: `{`, wantErr: "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "local.settings.json")
			must(t, os.WriteFile(path, []byte(tt.content), 0o600))
			got, err := LoadSettings(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "12345") {
					t.Fatalf("error = %v, want one mentioning %q (and no value)", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("LoadSettings = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestAppConfigurationRules lists what the stand-in refuses, and why: invalid for the real host too
// (ErrInvalidConfig), or valid but not emulated here (ErrUnsupported).
func TestAppConfigurationRules(t *testing.T) {
	const out = `{"type":"http","direction":"out","name":"res"}`
	trigger := func(extra string) string {
		return `{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"` + extra + `}`
	}
	fn := func(bindings ...string) string { return `{"bindings":[` + strings.Join(bindings, ",") + `]}` }
	no := false

	tests := []struct {
		name    string
		spec    appSpec
		host    string // replaces host.json when set
		wantIs  error
		wantMsg string
	}{
		{name: "route starting with admin", spec: appSpec{functions: map[string]string{"f": fn(trigger(`,"route":"admin/x"`), out)}}, wantIs: ErrInvalidConfig, wantMsg: "conflicts with one or more built in routes"},
		{name: "route starting with runtime", spec: appSpec{functions: map[string]string{"f": fn(trigger(`,"route":"Runtime{*p}"`), out)}}, wantIs: ErrInvalidConfig, wantMsg: "built in routes"},
		{name: "payload mode: forwarding off", spec: appSpec{forwarding: &no}, wantIs: ErrUnsupported, wantMsg: "payload mode"},
		{name: "payload mode: an extra output binding", spec: appSpec{functions: map[string]string{"f": fn(trigger(""), out, `{"type":"queue","direction":"out","name":"q"}`)}}, wantIs: ErrUnsupported, wantMsg: "payload mode"},
		{name: "payload mode: not an HTTP trigger", spec: appSpec{functions: map[string]string{"f": fn(`{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * *"}`)}}, wantIs: ErrUnsupported, wantMsg: "payload mode"},
		{name: "proxying mode", host: `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"bin/echohandler"},"enableProxyingHttpRequest":true}}`, wantIs: ErrUnsupported, wantMsg: "proxying"},
		{name: "configuration profile", host: `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"bin/echohandler"},"configurationProfile":"mcp-custom-handler"}}`, wantIs: ErrUnsupported, wantMsg: "configurationProfile"},
		{name: "route constraint", spec: appSpec{functions: map[string]string{"f": fn(trigger(`,"route":"runs/{id:int}"`), out)}}, wantIs: ErrUnsupported, wantMsg: "constraint"},
		{name: "complex segment", spec: appSpec{functions: map[string]string{"f": fn(trigger(`,"route":"files/{name}.{ext}"`), out)}}, wantIs: ErrUnsupported, wantMsg: "complex segment"},
		{name: "catch-all not last", spec: appSpec{functions: map[string]string{"f": fn(trigger(`,"route":"{*rest}/x"`), out)}}, wantIs: ErrInvalidConfig, wantMsg: "last segment"},
		{name: "unknown authLevel", spec: appSpec{functions: map[string]string{"f": fn(`{"type":"httpTrigger","direction":"in","name":"req","authLevel":"everyone"}`, out)}}, wantIs: ErrInvalidConfig, wantMsg: "authLevel"},
		{name: "same route, overlapping methods", spec: appSpec{functions: map[string]string{
			"a": fn(trigger(`,"route":"jobs","methods":["get","post"]`), out),
			"b": fn(trigger(`,"route":"Jobs","methods":["post"]`), out),
		}}, wantIs: ErrInvalidConfig, wantMsg: "same route"},
		{name: "no functions", spec: appSpec{functions: map[string]string{}}, wantIs: ErrInvalidConfig, wantMsg: "no enabled"},
		{name: "version missing", host: `{"customHandler":{"description":{"defaultExecutablePath":"bin/echohandler"},"enableForwardingHttpRequest":true}}`, wantIs: ErrInvalidConfig, wantMsg: `"version" must be "2.0"`},
		{name: "no custom handler", host: `{"version":"2.0"}`, wantIs: ErrInvalidConfig, wantMsg: "customHandler.description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeApp(t, tt.spec)
			if tt.host != "" {
				must(t, os.WriteFile(filepath.Join(root, "host.json"), []byte(tt.host), 0o644))
			}
			_, err := loadApp(root, nil, func(string) {})
			if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("loadApp error = %v, want %v mentioning %q", err, tt.wantIs, tt.wantMsg)
			}
		})
	}
}

// TestAppConfigurationAccepted covers valid variations of host.json and function.json.
func TestAppConfigurationAccepted(t *testing.T) {
	const out = `{"type":"http","direction":"out","name":"$return"}`
	t.Run("route prefix removed, methods omitted, disabled functions skipped", func(t *testing.T) {
		root := writeApp(t, appSpec{
			extraHostJSON: map[string]any{"extensions": map[string]any{"http": map[string]any{"routePrefix": ""}}},
			functions: map[string]string{
				"hello": `{"bindings":[{"type":"HttpTrigger","direction":"in","name":"req","authLevel":"anonymous"},` + out + `]}`,
				"off":   `{"disabled":true,"bindings":[{"type":"timerTrigger","direction":"in","name":"t"}]}`,
				"off2":  `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t"}]}`,
			},
		})
		a, err := loadApp(root, []string{"AzureWebJobs.off2.Disabled=true"}, func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		if len(a.functions) != 1 || a.functions[0].template.text != "hello" || len(a.functions[0].methods) != 0 {
			t.Fatalf("functions = %+v, want only hello, route hello (the function name), every method", a.functions)
		}
		if !a.functions[0].allows("DELETE") {
			t.Error("a function without methods must accept every method")
		}
	})
	t.Run("more specific routes are tried first", func(t *testing.T) {
		root := writeApp(t, appSpec{functions: map[string]string{
			"a-catchall": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","route":"{*path}"},` + out + `]}`,
			"b-param":    `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","route":"jobs/{id}"},` + out + `]}`,
			"c-literal":  `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","route":"jobs/list"},` + out + `]}`,
		}})
		a, err := loadApp(root, nil, func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, fn := range a.functions {
			names = append(names, fn.name)
		}
		if want := []string{"c-literal", "b-param", "a-catchall"}; !slices.Equal(names, want) {
			t.Errorf("route order = %v, want %v", names, want)
		}
	})
	t.Run("functionTimeout -1 means no handler call timeout", func(t *testing.T) {
		root := writeApp(t, appSpec{extraHostJSON: map[string]any{"functionTimeout": "-1"}})
		a, err := loadApp(root, nil, func(string) {})
		if err != nil || a.invokeTimeout != 0 {
			t.Errorf("invokeTimeout = %v, %v; want 0", a.invokeTimeout, err)
		}
	})
}

func TestRouteTemplateMatch(t *testing.T) {
	tests := []struct {
		template string
		path     string
		want     bool
	}{
		{"api/{*path}", "/api/jobs/runs/1", true},
		{"api/{*path}", "/api", true},
		{"api/{*path}", "/api/", true},
		{"api/{*path}", "/API/jobs", true},
		{"api/{*path}", "/apiv2/jobs", false},
		{"api/{*path}", "/jobs", false},
		{"api/{*path}", "/", false},
		{"api/jobs", "/api/jobs", true},
		{"api/jobs", "/api/jobs/", true},
		{"api/jobs", "/api/jobs/1", false},
		{"api/jobs/{id}", "/api/jobs/1", true},
		{"api/jobs/{id}", "/api/jobs", false},
		{"api/jobs/{id}", "/api/jobs//", false},
		{"api/jobs/{id?}", "/api/jobs", true},
		{"api/jobs/{id=5}", "/api/jobs", true},
		{"api/files/{name}", "/api/files/a%2Fb", true},
		{"hello", "/hello", true},
		{"{**rest}", "/anything/at/all", true},
	}
	for _, tt := range tests {
		t.Run(tt.template+" "+tt.path, func(t *testing.T) {
			tmpl, err := parseRouteTemplate(tt.template)
			if err != nil {
				t.Fatal(err)
			}
			if got := tmpl.match(tt.path); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJoinQuery(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", ""},
		{"a=1", "a=1"},
		{"a=1&a=2", "a=1%2C2"},
		{"a=1&b=2&A=3", "a=1%2C3&b=2"},
		{"flag", "flag="},
		{"q=x+y&r=%2F", "q=x%20y&r=%2F"},
		{"bad=%zz", "bad=%25zz"},
		{"&&a=1&", "a=1"},
	}
	for _, tt := range tests {
		if got := joinQuery(tt.raw); got != tt.want {
			t.Errorf("joinQuery(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestExpandPercent(t *testing.T) {
	vars := map[string]string{"A": "1", "PORT": "8080"}
	tests := []struct{ in, want string }{
		{"--port=%PORT%", "--port=8080"},
		{"%A%%A%", "11"},
		{"%MISSING%", "%MISSING%"},
		{"%MISSING%A%", "%MISSING1"},
		{"100%", "100%"},
		{"%", "%"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := expandPercent(tt.in, vars); got != tt.want {
			t.Errorf("expandPercent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseTimeSpan(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "00:10:00", want: 10 * time.Minute},
		{in: "01:00:30.5", want: time.Hour + 30*time.Second + 500*time.Millisecond},
		{in: "1.02:00:00", want: 26 * time.Hour},
		{in: "-1", want: 0},
		{in: "10m", wantErr: true},
		{in: "00:61:00", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseTimeSpan(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseTimeSpan(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
