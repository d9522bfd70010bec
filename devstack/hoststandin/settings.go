package hoststandin

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// LoadSettings reads a local.settings.json and returns its Values as "NAME=value" entries, sorted by name,
// ready for Options.Env. Like func start it refuses an encrypted file and values that are not strings.
// Error messages name the setting, never its value (values are often secrets).
func LoadSettings(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		IsEncrypted bool                       `json:"IsEncrypted"`
		Values      map[string]json.RawMessage `json:"Values"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.IsEncrypted {
		return nil, fmt.Errorf("%s: IsEncrypted is true; the stand-in reads plain-text settings only", path)
	}
	names := make([]string, 0, len(f.Values))
	for name := range f.Values {
		names = append(names, name)
	}
	sort.Strings(names)
	env := make([]string, 0, len(names))
	for _, name := range names {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return nil, fmt.Errorf("%s: Values: %q is not a valid setting name", path, name)
		}
		var v string
		if err := json.Unmarshal(f.Values[name], &v); err != nil {
			return nil, fmt.Errorf("%s: Values.%s must be a string", path, name)
		}
		env = append(env, name+"="+v)
	}
	return env, nil
}
