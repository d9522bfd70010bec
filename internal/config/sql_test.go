package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ordersByRegion = `{"orders_by_region": {
	"statement": "SELECT order_id, amount FROM main.sales.orders WHERE region = :region AND order_date >= :since",
	"parameters": {"region": "string", "since": "DATE"},
	"warehouse_id": "5f3c0a1b2c3d4e5f",
	"description": "Orders of a region since a date"}}`

func TestSQLDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SQL != SQLAny || c.SQLStatements != nil || c.Warehouses != nil || c.SQLMaxRows != 10_000 || c.SQLMaxBytes != 4<<20 {
		t.Fatalf("SQL defaults: mode %q statements %v warehouses %v rows %d bytes %d", c.SQL, c.SQLStatements, c.Warehouses, c.SQLMaxRows, c.SQLMaxBytes)
	}
}

func TestSQLSettingsAccepted(t *testing.T) {
	file := filepath.Join(t.TempDir(), "statements.json")
	if err := os.WriteFile(file, []byte(ordersByRegion), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) string
	}{
		{"named mode with inline JSON", map[string]string{EnvSQL: "Named", EnvSQLStatements: ordersByRegion}, func(c Config) string {
			d := c.SQLStatements["orders_by_region"]
			if c.SQL != SQLNamed || d.WarehouseID != "5f3c0a1b2c3d4e5f" || d.Description == "" ||
				d.Parameters["region"] != "STRING" || d.Parameters["since"] != "DATE" {
				return "named statement not read as defined"
			}
			return ""
		}},
		{"named statements from a file", map[string]string{EnvSQLStatements: file}, func(c Config) string {
			if c.SQL != SQLAny || len(c.SQLStatements) != 1 {
				return "the file was not read"
			}
			return ""
		}},
		{"an untyped parameter is a STRING", map[string]string{EnvSQLStatements: `{"s": {"statement": "SELECT :a", "parameters": {"a": ""}}}`}, func(c Config) string {
			if c.SQLStatements["s"].Parameters["a"] != "STRING" {
				return "type " + c.SQLStatements["s"].Parameters["a"]
			}
			return ""
		}},
		{"off", map[string]string{EnvSQL: "off"}, func(c Config) string {
			if c.SQL != SQLOff {
				return string(c.SQL)
			}
			return ""
		}},
		{"warehouses and limits", map[string]string{EnvWarehouses: "5f3c0a1b2c3d4e5f, 9a8b7c6d5e4f3a2b", EnvSQLMaxRows: "100000", EnvSQLMaxBytes: "26214400"}, func(c Config) string {
			if len(c.Warehouses) != 2 || c.Warehouses[1] != "9a8b7c6d5e4f3a2b" || c.SQLMaxRows != 100_000 || c.SQLMaxBytes != 25<<20 {
				return "not read"
			}
			return ""
		}},
		{"a named statement on an allowed warehouse", map[string]string{EnvWarehouses: "5f3c0a1b2c3d4e5f", EnvSQLStatements: ordersByRegion}, func(Config) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(c); msg != "" {
				t.Fatalf("%s: %+v", msg, c)
			}
		})
	}
}

// Every refusal names the setting and what is wrong with which statement, and never quotes a
// statement's text.
func TestSQLSettingsRefused(t *testing.T) {
	const secretText = "SELECT secret_column FROM"
	tests := []struct {
		name    string
		env     map[string]string
		setting string
		detail  string
	}{
		{"unknown mode", map[string]string{EnvSQL: "some"}, EnvSQL, "any, named or off"},
		{"named mode without statements", map[string]string{EnvSQL: "named"}, EnvSQLStatements, "at least one statement"},
		{"not JSON", map[string]string{EnvSQLStatements: "{statements}"}, EnvSQLStatements, "must map statement names"},
		{"no such file", map[string]string{EnvSQLStatements: "/nonexistent/statements.json"}, EnvSQLStatements, "cannot be read"},
		{"unknown field", map[string]string{EnvSQLStatements: `{"s": {"statement": "SELECT 1", "params": {}}}`}, EnvSQLStatements, "params"},
		{"bad name", map[string]string{EnvSQLStatements: `{"orders by region": {"statement": "SELECT 1"}}`}, EnvSQLStatements, `"orders by region"`},
		{"no text", map[string]string{EnvSQLStatements: `{"s": {"statement": " "}}`}, EnvSQLStatements, "statement s has no statement text"},
		{"bad parameter name", map[string]string{EnvSQLStatements: `{"s": {"statement": "` + secretText + ` t", "parameters": {"1a": "INT"}}}`}, EnvSQLStatements, "SQL identifier"},
		{"bad parameter type", map[string]string{EnvSQLStatements: `{"s": {"statement": "` + secretText + ` :a", "parameters": {"a": "INT; DROP"}}}`}, EnvSQLStatements, "not a Databricks type name"},
		{"parameter not in the text", map[string]string{EnvSQLStatements: `{"s": {"statement": "` + secretText + ` :region_id", "parameters": {"region": "STRING"}}}`}, EnvSQLStatements, "does not appear as :region"},
		{"a cast is no marker", map[string]string{EnvSQLStatements: `{"s": {"statement": "` + secretText + ` x::region", "parameters": {"region": "STRING"}}}`}, EnvSQLStatements, "does not appear as :region"},
		{"bad warehouse id", map[string]string{EnvSQLStatements: `{"s": {"statement": "SELECT 1", "warehouse_id": "a/b"}}`}, EnvSQLStatements, "not a SQL warehouse id"},
		{"warehouse outside the allow-list", map[string]string{EnvWarehouses: "9a8b7c6d5e4f3a2b", EnvSQLStatements: ordersByRegion}, EnvSQLStatements, "not in FLOWBRICKS_WAREHOUSES"},
		{"bad warehouse list", map[string]string{EnvWarehouses: "5f3c0a1b2c3d4e5f, https://x"}, EnvWarehouses, "warehouse ids"},
		{"zero rows", map[string]string{EnvSQLMaxRows: "0"}, EnvSQLMaxRows, "from 1 to 100000"},
		{"too many rows", map[string]string{EnvSQLMaxRows: "100001"}, EnvSQLMaxRows, "from 1 to 100000"},
		{"too many bytes", map[string]string{EnvSQLMaxBytes: "26214401"}, EnvSQLMaxBytes, "from 1 to 26214400"},
		{"bytes with a unit", map[string]string{EnvSQLMaxBytes: "4MiB"}, EnvSQLMaxBytes, "whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Name != tt.setting {
				t.Fatalf("want an error naming %s, got %v", tt.setting, err)
			}
			if !strings.Contains(err.Error(), tt.detail) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q does not say %q in one line", err, tt.detail)
			}
			if strings.Contains(err.Error(), secretText) {
				t.Fatalf("error quotes the statement text: %v", err)
			}
		})
	}
}
