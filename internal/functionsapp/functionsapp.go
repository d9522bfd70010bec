// Package functionsapp reads the Azure Functions app layout flowbricks ships: host.json at the app
// root and one <folder>/function.json per function. It is the one reader of those files; the
// deployment packager, the local stack and the host stand-in all call it, so a rule about where
// the handler executable lives, or what makes a function.json readable, is written once.
//
// The types keep the host's own key names. encoding/json matches keys case-insensitively, as the
// host's .NET configuration binder does, so "CustomHandler" and "customHandler" both work here as
// they do in Azure.
package functionsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrInvalidConfig marks an app layout the Functions host rejects as well: unreadable JSON, a
// host.json that is not version 2.0, no function at all. Test with errors.Is.
var ErrInvalidConfig = errors.New("invalid Functions app configuration")

// HostFile is the name of the host configuration at the app root.
const HostFile = "host.json"

// FunctionFile is the name of a function's configuration inside its folder.
const FunctionFile = "function.json"

// DefaultRoutePrefix is extensions.http.routePrefix when host.json does not set it: the host
// serves HTTP triggers under /api by default.
const DefaultRoutePrefix = "api"

// Host is the part of host.json flowbricks and its tools read.
type Host struct {
	Version       *string        `json:"version"`
	CustomHandler *CustomHandler `json:"customHandler"`
	// HTTPWorker is the legacy name of CustomHandler; the host still honours it.
	HTTPWorker *CustomHandler `json:"httpWorker"`
	// FunctionTimeout is a .NET TimeSpan ("00:10:00") or "-1"; nil when unset.
	FunctionTimeout *string `json:"functionTimeout"`
	// Functions, when set, lists the only functions the host loads.
	Functions  []string `json:"functions"`
	Extensions struct {
		HTTP struct {
			RoutePrefix *string `json:"routePrefix"`
		} `json:"http"`
	} `json:"extensions"`
}

// CustomHandler is host.json's customHandler (or httpWorker) section.
type CustomHandler struct {
	Description                 *Description    `json:"description"`
	EnableForwardingHTTPRequest bool            `json:"enableForwardingHttpRequest"`
	EnableProxyingHTTPRequest   bool            `json:"enableProxyingHttpRequest"`
	ConfigurationProfile        string          `json:"configurationProfile"`
	HTTP                        json.RawMessage `json:"http"`
	Port                        *int            `json:"port"`
}

// Description says how the host starts the handler process.
type Description struct {
	DefaultExecutablePath string   `json:"defaultExecutablePath"`
	DefaultWorkerPath     string   `json:"defaultWorkerPath"`
	Arguments             []string `json:"arguments"`
	WorkerArguments       []string `json:"workerArguments"`
	WorkingDirectory      string   `json:"workingDirectory"`
	WorkerDirectory       string   `json:"workerDirectory"`
}

// Function is one <folder>/function.json.
type Function struct {
	// Name is the folder name, which is the function's name.
	Name string `json:"-"`
	// Disabled is "disabled": true or "true"; other values count as false, as in the host.
	Disabled Flag      `json:"disabled"`
	Bindings []Binding `json:"bindings"`
}

// Path is the function.json's slash-separated path relative to the app root.
func (f Function) Path() string { return f.Name + "/" + FunctionFile }

// Binding is one entry of a function.json's bindings.
type Binding struct {
	Type      string   `json:"type"`
	Direction string   `json:"direction"`
	Name      string   `json:"name"`
	AuthLevel *string  `json:"authLevel"`
	Methods   []string `json:"methods"`
	Route     *string  `json:"route"`
}

// Flag is a JSON boolean the host also accepts as the string "true" (any case).
type Flag bool

// UnmarshalJSON never fails: like the host, it treats anything but true and "true" as false.
func (f *Flag) UnmarshalJSON(raw []byte) error {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		*f = Flag(b)
		return nil
	}
	var s string
	*f = Flag(json.Unmarshal(raw, &s) == nil && strings.EqualFold(s, "true"))
	return nil
}

// ReadHost reads and checks <appRoot>/host.json: valid JSON and "version": "2.0", which the host
// requires. It does not require a customHandler section; ExecutablePath does.
func ReadHost(appRoot string) (*Host, error) {
	var h Host
	if err := readJSON(appRoot, HostFile, &h); err != nil {
		return nil, err
	}
	if h.Version == nil || *h.Version != "2.0" {
		return nil, fmt.Errorf("%s: %w: \"version\" must be \"2.0\"", HostFile, ErrInvalidConfig)
	}
	return &h, nil
}

// RoutePrefix is extensions.http.routePrefix without surrounding slashes, or DefaultRoutePrefix
// when unset. An empty prefix is allowed: the functions' routes then start at /.
func (h *Host) RoutePrefix() string {
	if p := h.Extensions.HTTP.RoutePrefix; p != nil {
		return strings.Trim(*p, "/")
	}
	return DefaultRoutePrefix
}

// ExecutablePath is customHandler.description.defaultExecutablePath as flowbricks ships it: a
// clean, slash-separated path inside the app (such as bin/flowbricks). The host would also take an
// absolute path, %NAME% references or a command on PATH, but a package must carry its executable,
// and the deployment package stores it at exactly this path.
func (h *Host) ExecutablePath() (string, error) {
	if h.CustomHandler == nil || h.CustomHandler.Description == nil || h.CustomHandler.Description.DefaultExecutablePath == "" {
		return "", fmt.Errorf("%s: %w: customHandler.description.defaultExecutablePath is not set", HostFile, ErrInvalidConfig)
	}
	p := h.CustomHandler.Description.DefaultExecutablePath
	// The host resolves a relative path against the app root; it must stay inside the app.
	if strings.Contains(p, `\`) || !filepath.IsLocal(filepath.FromSlash(p)) || path.Clean(p) != p {
		return "", fmt.Errorf("%s: defaultExecutablePath %q must be a clean relative path inside the app, such as bin/flowbricks", HostFile, p)
	}
	if p == HostFile {
		return "", fmt.Errorf("%s: defaultExecutablePath must not be %s", HostFile, HostFile)
	}
	return p, nil
}

// ExecutablePath reads <appRoot>/host.json and returns (*Host).ExecutablePath: the handler's
// slash-separated path relative to appRoot.
func ExecutablePath(appRoot string) (string, error) {
	h, err := ReadHost(appRoot)
	if err != nil {
		return "", err
	}
	return h.ExecutablePath()
}

// ExecutableFile is ExecutablePath joined to appRoot: the file to build the handler into, or to
// start.
func ExecutableFile(appRoot string) (string, error) {
	p, err := ExecutablePath(appRoot)
	if err != nil {
		return "", err
	}
	return filepath.Join(appRoot, filepath.FromSlash(p)), nil
}

// FunctionFolders lists, sorted, the folders directly under appRoot that hold a function.json
// file: the functions the host finds. There may be none.
func FunctionFolders(appRoot string) ([]string, error) {
	entries, err := os.ReadDir(appRoot) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("app root: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		st, err := os.Stat(filepath.Join(appRoot, e.Name(), FunctionFile))
		if err != nil || st.IsDir() {
			continue
		}
		names = append(names, e.Name())
	}
	return names, nil
}

// ReadFunction reads <appRoot>/<name>/function.json.
func ReadFunction(appRoot, name string) (Function, error) {
	f := Function{Name: name}
	if err := readJSON(appRoot, f.Path(), &f); err != nil {
		return Function{}, err
	}
	f.Name = name
	return f, nil
}

// ReadFunctions reads every function.json under appRoot, in folder order. An app without any is
// an error: nothing would route requests to the handler.
func ReadFunctions(appRoot string) ([]Function, error) {
	names, err := FunctionFolders(appRoot)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no <folder>/%s under %s: nothing would route requests to the handler", ErrInvalidConfig, FunctionFile, appRoot)
	}
	fns := make([]Function, 0, len(names))
	for _, name := range names {
		f, err := ReadFunction(appRoot, name)
		if err != nil {
			return nil, err
		}
		fns = append(fns, f)
	}
	return fns, nil
}

// readJSON decodes <appRoot>/<rel> into v. Errors name the file by rel (host.json,
// <folder>/function.json), the way a person edits it.
func readJSON(appRoot, rel string, v any) error {
	data, err := os.ReadFile(filepath.Join(appRoot, filepath.FromSlash(rel)))
	if err != nil {
		return fmt.Errorf("reading %s: %w", rel, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s is not valid: %w: %w", rel, ErrInvalidConfig, err)
	}
	return nil
}
