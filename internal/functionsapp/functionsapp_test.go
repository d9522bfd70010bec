package functionsapp

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFiles creates an app root holding files (slash paths relative to the root).
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const trigger = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"}]}`

// TestTheRepositorysAppIsWhatFlowbricksShips: the repository root is the app. Its host.json
// names bin/flowbricks under /api, and function-trigger/function.json is its only function.
func TestTheRepositorysAppIsWhatFlowbricksShips(t *testing.T) {
	const repo = "../.."
	h, err := ReadHost(repo)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := h.ExecutablePath()
	if err != nil || exe != "bin/flowbricks" {
		t.Errorf("ExecutablePath = %q, %v; want bin/flowbricks", exe, err)
	}
	if file, err := ExecutableFile(repo); err != nil || file != filepath.Join(repo, "bin", "flowbricks") {
		t.Errorf("ExecutableFile = %q, %v; want %s", file, err, filepath.Join(repo, "bin", "flowbricks"))
	}
	if got := h.RoutePrefix(); got != "api" {
		t.Errorf("RoutePrefix = %q, want api", got)
	}
	if h.CustomHandler == nil || !h.CustomHandler.EnableForwardingHTTPRequest {
		t.Error("customHandler.enableForwardingHttpRequest must be true: the handler serves plain HTTP")
	}
	fns, err := ReadFunctions(repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 1 || fns[0].Name != "function-trigger" || fns[0].Path() != "function-trigger/function.json" {
		t.Fatalf("functions = %+v, want function-trigger only", fns)
	}
	if b := fns[0].Bindings; len(b) != 2 || b[0].Type != "httpTrigger" || b[0].Route == nil || *b[0].Route != "{*path}" {
		t.Errorf("function-trigger bindings = %+v, want an httpTrigger with route {*path} and an http output", b)
	}
}

func TestExecutablePathStaysInsideTheApp(t *testing.T) {
	host := func(exe string) string {
		return `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":` + exe + `}}}`
	}
	tests := []struct {
		name    string
		host    string // "" = no host.json
		want    string
		wantErr string
		wantIs  error
	}{
		{name: "a file in a folder", host: host(`"bin/flowbricks"`), want: "bin/flowbricks"},
		{name: "a file at the root", host: host(`"flowbricks"`), want: "flowbricks"},
		{name: "keys in another case, as the host allows", host: `{"Version":"2.0","CustomHandler":{"Description":{"DefaultExecutablePath":"bin/x"}}}`, want: "bin/x"},
		{name: "no host.json", wantErr: "reading host.json", wantIs: os.ErrNotExist},
		{name: "not JSON", host: `{"version":`, wantErr: "host.json is not valid", wantIs: ErrInvalidConfig},
		{name: "not version 2.0", host: `{"version":"1.0","customHandler":{"description":{"defaultExecutablePath":"bin/x"}}}`, wantErr: `"version" must be "2.0"`, wantIs: ErrInvalidConfig},
		{name: "no custom handler", host: `{"version":"2.0"}`, wantErr: "defaultExecutablePath is not set", wantIs: ErrInvalidConfig},
		{name: "empty path", host: host(`""`), wantErr: "defaultExecutablePath is not set", wantIs: ErrInvalidConfig},
		{name: "outside the app", host: host(`"../flowbricks"`), wantErr: "must be a clean relative path"},
		{name: "absolute", host: host(`"/home/site/wwwroot/bin/flowbricks"`), wantErr: "must be a clean relative path"},
		{name: "not clean", host: host(`"bin/../bin/flowbricks"`), wantErr: "must be a clean relative path"},
		{name: "backslashes", host: host(`"bin\\flowbricks"`), wantErr: "must be a clean relative path"},
		{name: "host.json itself", host: host(`"host.json"`), wantErr: "must not be host.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			if tt.host != "" {
				files["host.json"] = tt.host
			}
			got, err := ExecutablePath(writeFiles(t, files))
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ExecutablePath = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
		})
	}
}

func TestRoutePrefix(t *testing.T) {
	for host, want := range map[string]string{
		`{"version":"2.0"}`: DefaultRoutePrefix,
		`{"version":"2.0","extensions":{"http":{"routePrefix":""}}}`:      "",
		`{"version":"2.0","extensions":{"http":{"routePrefix":"/v1/"}}}`:  "v1",
		`{"version":"2.0","extensions":{"http":{"routePrefix":"a/b"}}}`:   "a/b",
		`{"version":"2.0","Extensions":{"Http":{"RoutePrefix":"other"}}}`: "other",
	} {
		h, err := ReadHost(writeFiles(t, map[string]string{"host.json": host}))
		if err != nil {
			t.Fatal(err)
		}
		if got := h.RoutePrefix(); got != want {
			t.Errorf("%s: RoutePrefix = %q, want %q", host, got, want)
		}
	}
}

func TestReadFunctionsFindsEveryFunctionFolder(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		want      []string // folder names, in order
		wantErr   string
		wantIs    error
		noFolders bool // FunctionFolders itself finds none
	}{
		{
			name: "folders in name order; other files and nested folders ignored",
			files: map[string]string{
				"zeta/function.json":        trigger,
				"alpha/function.json":       trigger,
				"alpha/notes.txt":           "not a function",
				"deep/nested/function.json": trigger,
				"function.json":             trigger,
				"bin/flowbricks":            "binary",
			},
			want: []string{"alpha", "zeta"},
		},
		{
			name:      "a folder named function.json is not a function",
			files:     map[string]string{"odd/function.json/x": "{}"},
			wantErr:   "no <folder>/function.json",
			wantIs:    ErrInvalidConfig,
			noFolders: true,
		},
		{
			name:      "no function at all",
			files:     map[string]string{"host.json": `{"version":"2.0"}`},
			wantErr:   "nothing would route requests to the handler",
			wantIs:    ErrInvalidConfig,
			noFolders: true,
		},
		{
			name:    "a function.json that is not JSON",
			files:   map[string]string{"function-trigger/function.json": `{"bindings": [`},
			wantErr: "function-trigger/function.json is not valid",
			wantIs:  ErrInvalidConfig,
		},
		{
			name:    "a function.json that is not an object",
			files:   map[string]string{"f/function.json": `[]`},
			wantErr: "f/function.json is not valid",
			wantIs:  ErrInvalidConfig,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeFiles(t, tt.files)
			folders, err := FunctionFolders(root)
			if err != nil {
				t.Fatal(err)
			}
			if tt.noFolders != (len(folders) == 0) {
				t.Errorf("FunctionFolders = %q", folders)
			}
			fns, err := ReadFunctions(root)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, tt.wantIs) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantIs, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range fns {
				names = append(names, f.Name)
			}
			if !slices.Equal(names, tt.want) || !slices.Equal(folders, tt.want) {
				t.Errorf("ReadFunctions = %q, FunctionFolders = %q; want %q", names, folders, tt.want)
			}
		})
	}
}

func TestDisabledTakesTheFormsTheHostTakes(t *testing.T) {
	for raw, want := range map[string]bool{
		`true`: true, `"true"`: true, `"True"`: true,
		`false`: false, `"false"`: false, `"yes"`: false, `1`: false, `null`: false, `{}`: false,
	} {
		var f Function
		if err := json.Unmarshal([]byte(`{"disabled":`+raw+`}`), &f); err != nil {
			t.Errorf("disabled %s: %v", raw, err)
		}
		if bool(f.Disabled) != want {
			t.Errorf("disabled %s = %v, want %v", raw, f.Disabled, want)
		}
	}
}
