package stack

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
)

//go:embed fixture.json
var defaultFixture []byte

// Fixture is the tenant, the users and the workspace the local stack simulates.
type Fixture struct {
	Entra     fakeentra.Config     `json:"entra"`
	Workspace fakeworkspace.Config `json:"workspace"`
}

// LoadFixture reads a fixture file; "" is the built-in one (fixture.json next to this file).
// Unknown fields are refused so that a typo cannot silently change what the stack simulates.
func LoadFixture(path string) (Fixture, error) {
	raw := defaultFixture
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Fixture{}, err
		}
		raw = b
	}
	var f Fixture
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Fixture{}, fmt.Errorf("fixture: %w", err)
	}
	return f, nil
}

// App returns the fixture's app registration called name (logic-app, no-role-app, …).
func (f Fixture) App(name string) (fakeentra.App, bool) {
	for _, a := range f.Entra.Apps {
		if a.Name == name {
			return a, true
		}
	}
	return fakeentra.App{}, false
}

// DefaultAppCaller is the fixture app the stack allow-lists as an app caller
// (FLOWBRICKS_APP_CALLERS), so that `devstack token --app <its client id>` leads to a 200; a stack
// started with FLOWBRICKS_APP_CALLERS= in Options.Env accepts no app-only token.
const DefaultAppCaller = "logic-app"
