package hoststandin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowbricks/flowbricks/internal/functionsapp"
)

// ErrUnsupported marks an app configuration that the real Functions host may accept but this stand-in does
// not emulate (payload mode, proxying mode, non-HTTP bindings, route constraints, …). Test with errors.Is.
var ErrUnsupported = errors.New("not supported by the host stand-in")

// ErrInvalidConfig marks an app configuration that the real Functions host rejects as well. It is
// functionsapp's error, so one errors.Is test covers the files' syntax and the host's rules.
var ErrInvalidConfig = functionsapp.ErrInvalidConfig

// app is what the stand-in needs from host.json and the */function.json files.
type app struct {
	root        string // absolute AppRoot (the host's RootScriptPath)
	legacy      bool   // configured through the legacy httpWorker section
	executable  string // defaultExecutablePath after %NAME% expansion; see resolveExecutable
	args        []string
	workingDir  string
	port        int // customHandler.port; 0 = pick a free loopback port
	routePrefix string
	// invokeTimeout is the host's HTTP client timeout towards the handler: functionTimeout + 1 min, or 0
	// (no timeout) when functionTimeout is not set or is -1 (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
	invokeTimeout time.Duration
	functions     []*function // in route-precedence order (see sortByPrecedence)
}

// function is one */function.json with its single httpTrigger.
type function struct {
	name      string
	authLevel string   // lower case: anonymous, function, admin, …
	methods   []string // upper case; empty = every method
	route     string   // the template as written (default: the function name)
	template  *routeTemplate
}

func (f *function) allows(method string) bool {
	return len(f.methods) == 0 || slices.Contains(f.methods, method)
}

// loadApp reads host.json and every <AppRoot>/*/function.json. env is the host's environment (process
// environment plus app settings; later entries win); it is used for %NAME% expansion and for the
// AzureWebJobs.<name>.Disabled settings. notes receives non-fatal remarks (e.g. keys not enforced locally).
func loadApp(root string, env []string, notes func(string)) (*app, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("app root %q: %w", root, err)
	}
	a := &app{root: abs}
	vars := envMap(env)

	hf, err := functionsapp.ReadHost(abs)
	if err != nil {
		return nil, err
	}
	if err := a.configureHandler(hf, vars, notes); err != nil {
		return nil, err
	}
	a.routePrefix = hf.RoutePrefix()
	if hf.FunctionTimeout != nil {
		ft, err := parseTimeSpan(*hf.FunctionTimeout)
		if err != nil {
			return nil, fmt.Errorf("host.json: %w: functionTimeout %q: %w", ErrInvalidConfig, *hf.FunctionTimeout, err)
		}
		if ft > 0 {
			a.invokeTimeout = ft + time.Minute
		}
	}
	if err := a.loadFunctions(hf.Functions, vars, notes); err != nil {
		return nil, err
	}
	return a, nil
}

// configureHandler follows HttpWorkerOptionsSetup / HttpWorkerDescription (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
func (a *app) configureHandler(hf *functionsapp.Host, vars map[string]string, notes func(string)) error {
	sec := hf.CustomHandler
	if sec == nil && hf.HTTPWorker != nil {
		// Legacy section: still honoured; customHandler wins when both exist (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
		sec, a.legacy = hf.HTTPWorker, true
		notes("host.json: section httpWorker is deprecated; use customHandler")
	} else if sec != nil && hf.HTTPWorker != nil {
		notes("host.json: both httpWorker and customHandler are present; customHandler takes precedence")
	}
	if sec == nil || sec.Description == nil {
		return fmt.Errorf("host.json: %w: no customHandler.description (this stand-in only runs custom handlers)", ErrInvalidConfig)
	}
	switch {
	case sec.ConfigurationProfile != "" || len(sec.HTTP) > 0:
		return fmt.Errorf("host.json: customHandler.configurationProfile / customHandler.http: %w", ErrUnsupported)
	case sec.EnableProxyingHTTPRequest:
		return fmt.Errorf("host.json: proxying mode (customHandler.enableProxyingHttpRequest): %w", ErrUnsupported)
	case !a.legacy && !sec.EnableForwardingHTTPRequest:
		// Without the flag the host uses payload mode for every function (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
		return fmt.Errorf("host.json: payload mode (customHandler.enableForwardingHttpRequest is not true): %w", ErrUnsupported)
	}
	d := sec.Description
	if d.DefaultWorkerPath != "" || len(d.WorkerArguments) > 0 || d.WorkerDirectory != "" {
		return fmt.Errorf("host.json: customHandler.description defaultWorkerPath/workerArguments/workerDirectory: %w", ErrUnsupported)
	}
	if sec.Port != nil {
		a.port = *sec.Port
	}

	// Environment variables are expanded in the executable path and the arguments (%NAME%, as .NET's
	// Environment.ExpandEnvironmentVariables does: unknown names stay as they are).
	exe := expandPercent(d.DefaultExecutablePath, vars)
	if exe == "" {
		return fmt.Errorf("host.json: %w: customHandler.description.defaultExecutablePath cannot be empty", ErrInvalidConfig)
	}
	for _, arg := range d.Arguments {
		a.args = append(a.args, expandPercent(arg, vars))
	}
	a.executable = exe
	// Working directory: empty = app root; relative = relative to the app root (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
	a.workingDir = a.root
	if wd := d.WorkingDirectory; wd != "" {
		if filepath.IsAbs(wd) {
			a.workingDir = wd
		} else {
			a.workingDir = filepath.Join(a.root, wd)
		}
	}
	return nil
}

// resolveExecutable finds the command to start. A relative path is looked up in the app root; if no such
// file exists the host assumes a command on the system PATH (HttpWorkerDescription.ApplyDefaultsAndValidate).
func (a *app) resolveExecutable() (string, error) {
	exe := a.executable
	switch {
	case filepath.IsAbs(exe):
		return exe, nil
	case fileExists(filepath.Join(a.root, exe)):
		return filepath.Join(a.root, exe), nil
	case !strings.ContainsRune(exe, '/') && !strings.ContainsRune(exe, filepath.Separator):
		p, err := exec.LookPath(exe)
		if err != nil {
			return "", fmt.Errorf("host.json: defaultExecutablePath %q: not in the app root and not on PATH: %w", exe, err)
		}
		return p, nil
	default:
		return "", fmt.Errorf("host.json: defaultExecutablePath %q: no such file under %s (build the handler first)", exe, a.root)
	}
}

// loadFunctions reads <root>/*/function.json (one level deep; the folder name is the function name).
func (a *app) loadFunctions(only []string, vars map[string]string, notes func(string)) error {
	names, err := functionsapp.FunctionFolders(a.root)
	if err != nil {
		return err
	}
	for _, name := range names {
		if len(only) > 0 && !slices.ContainsFunc(only, func(s string) bool { return strings.EqualFold(s, name) }) {
			continue // host.json "functions" lists the functions to load
		}
		ff, err := functionsapp.ReadFunction(a.root, name)
		if err != nil {
			return err
		}
		if bool(ff.Disabled) || strings.EqualFold(vars["AzureWebJobs."+name+".Disabled"], "true") {
			notes(fmt.Sprintf("function %s is disabled", name))
			continue
		}
		fn, err := a.parseFunction(name, &ff, notes)
		if err != nil {
			return fmt.Errorf("%s/function.json: %w", name, err)
		}
		a.functions = append(a.functions, fn)
	}
	if len(a.functions) == 0 {
		return fmt.Errorf("%w: no enabled */function.json under %s", ErrInvalidConfig, a.root)
	}
	if err := checkConflicts(a.functions); err != nil {
		return err
	}
	sortByPrecedence(a.functions)
	return nil
}

func (a *app) parseFunction(name string, ff *functionsapp.Function, notes func(string)) (*function, error) {
	// Forwarding applies only to a function with exactly one input binding of type httpTrigger and exactly
	// one output binding of type http (IsHttpInAndOutFunction; docs/architecture.md, Azure Functions custom handler (forwarding mode)); anything else is payload mode.
	var in, out []int
	for i, b := range ff.Bindings {
		switch strings.ToLower(b.Direction) {
		case "in":
			in = append(in, i)
		case "out":
			out = append(out, i)
		default:
			return nil, fmt.Errorf("binding %q has direction %q: %w", b.Name, b.Direction, ErrUnsupported)
		}
	}
	if len(in) != 1 || len(out) != 1 ||
		!strings.EqualFold(ff.Bindings[in[0]].Type, "httpTrigger") || !strings.EqualFold(ff.Bindings[out[0]].Type, "http") {
		return nil, fmt.Errorf("payload mode (bindings other than exactly one httpTrigger in and one http out): %w", ErrUnsupported)
	}
	trig := ff.Bindings[in[0]]
	fn := &function{name: name, authLevel: "function", route: name}
	// authLevel defaults to function when omitted (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
	if trig.AuthLevel != nil {
		fn.authLevel = strings.ToLower(*trig.AuthLevel)
	}
	switch fn.authLevel {
	case "anonymous":
	case "function", "admin", "system", "user":
		// Keys are not enforced locally (docs/architecture.md, Azure Functions custom handler (forwarding mode)), so func start serves the function without a key;
		// the stand-in does the same and only says so.
		notes(fmt.Sprintf("function %s: authLevel %q is not enforced locally (func start does not check keys either); in Azure it requires a key", name, fn.authLevel))
	default:
		return nil, fmt.Errorf("%w: unknown authLevel %q", ErrInvalidConfig, *trig.AuthLevel)
	}
	for _, m := range trig.Methods {
		fn.methods = append(fn.methods, strings.ToUpper(m))
	}
	if trig.Route != nil && *trig.Route != "" {
		fn.route = *trig.Route
		// "The specified route conflicts with one or more built in routes." (docs/architecture.md, Azure Functions custom handler (forwarding mode))
		lower := strings.ToLower(strings.TrimLeft(fn.route, "/"))
		if strings.HasPrefix(lower, "admin") || strings.HasPrefix(lower, "runtime") {
			return nil, fmt.Errorf("%w: route %q: the specified route conflicts with one or more built in routes", ErrInvalidConfig, fn.route)
		}
	}
	full := strings.Trim(fn.route, "/")
	if a.routePrefix != "" {
		full = a.routePrefix + "/" + full
	}
	t, err := parseRouteTemplate(full)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", fn.route, err)
	}
	fn.template = t
	return fn, nil
}

// checkConflicts rejects two functions with the same route and overlapping methods, as the host's
// HttpRoutesConflict check does (docs/architecture.md, Azure Functions custom handler (forwarding
// mode)).
func checkConflicts(fns []*function) error {
	for i, f := range fns {
		for _, g := range fns[i+1:] {
			if !strings.EqualFold(f.template.text, g.template.text) {
				continue
			}
			overlap := len(f.methods) == 0 || len(g.methods) == 0 ||
				slices.ContainsFunc(f.methods, func(m string) bool { return slices.Contains(g.methods, m) })
			if overlap {
				return fmt.Errorf("%w: functions %s and %s define the same route %q with overlapping methods", ErrInvalidConfig, f.name, g.name, f.route)
			}
		}
	}
	return nil
}

// sortByPrecedence orders routes the way ASP.NET routing tries them: more specific templates first
// (literal before parameter before catch-all, segment by segment); ties keep folder order.
func sortByPrecedence(fns []*function) {
	sort.SliceStable(fns, func(i, j int) bool {
		return fns[i].template.precedenceLess(fns[j].template)
	})
}

// parseTimeSpan reads a .NET TimeSpan as used by host.json functionTimeout: [d.]hh:mm:ss[.fffffff], or
// "-1" for unbounded (returned as 0).
func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "-1" {
		return 0, nil
	}
	var days int64
	rest := s
	if dot, colon := strings.IndexByte(s, '.'), strings.IndexByte(s, ':'); dot >= 0 && dot < colon {
		d, err := strconv.ParseInt(s[:dot], 10, 32)
		if err != nil || d < 0 {
			return 0, errors.New("expected [d.]hh:mm:ss")
		}
		days, rest = d, s[dot+1:]
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, errors.New("expected [d.]hh:mm:ss")
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err := errors.Join(err1, err2, err3); err != nil || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
		return 0, errors.New("expected [d.]hh:mm:ss")
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec*float64(time.Second)), nil
}

// expandPercent replaces %NAME% with its value, leaving unknown references untouched, like .NET's
// Environment.ExpandEnvironmentVariables on Unix (names are case-sensitive there).
func expandPercent(s string, vars map[string]string) string {
	var b strings.Builder
	for {
		start := strings.IndexByte(s, '%')
		if start < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := strings.IndexByte(s[start+1:], '%')
		if end < 0 {
			b.WriteString(s)
			return b.String()
		}
		end += start + 1
		b.WriteString(s[:start])
		if v, ok := vars[s[start+1:end]]; ok {
			b.WriteString(v)
			s = s[end+1:]
		} else {
			// Keep "%NAME" and rescan from the closing '%', which may open the next reference.
			b.WriteString(s[start:end])
			s = s[end:]
		}
	}
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}
