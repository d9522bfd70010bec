package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// SQLMode is FLOWBRICKS_SQL: which SQL statements flows may run (docs/sql.md, Named mode).
type SQLMode string

const (
	// SQLAny lets flows send their own SQL text as well as run named statements.
	SQLAny SQLMode = "any"
	// SQLNamed lets flows run only the statements of FLOWBRICKS_SQL_STATEMENTS, by name.
	SQLNamed SQLMode = "named"
	// SQLOff turns the SQL endpoints off.
	SQLOff SQLMode = "off"
)

// NamedStatement is one admin-defined statement of FLOWBRICKS_SQL_STATEMENTS.
type NamedStatement struct {
	Statement string `json:"statement"`
	// Parameters maps each parameter name (a :marker of Statement) to its Databricks type name,
	// upper-cased; "" in the file means STRING.
	Parameters map[string]string `json:"parameters"`
	// WarehouseID is the warehouse the statement runs on when a request names none.
	WarehouseID string `json:"warehouse_id"`
	Description string `json:"description"`
}

// Bounds of the SQL settings' contents.
const (
	maxNamedStatements   = 1000
	maxStatementBytes    = 16 << 20 // what Databricks accepts as statement text
	maxStatementParams   = 256
	maxStatementNameSize = 64
)

var (
	statementNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	identifierRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// sqlTypeRe accepts what Databricks type names look like: INT, DECIMAL(10,2),
	// ARRAY<STRING>, STRUCT<a: INT, b: STRING>, INTERVAL DAY TO SECOND. It keeps control characters
	// and quotes out; Databricks judges the rest.
	sqlTypeRe     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_ ,()<>:]{0,254}$`)
	warehouseIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// IsSQLIdentifier reports whether s can name a statement parameter (a :marker):
// [A-Za-z_][A-Za-z0-9_]*.
func IsSQLIdentifier(s string) bool { return len(s) <= 255 && identifierRe.MatchString(s) }

// SQLTypeName normalizes a Databricks SQL type name for a statement parameter: trimmed and
// upper-cased, "" becomes STRING. ok is false when s cannot be a type name.
func SQLTypeName(s string) (name string, ok bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return "STRING", true
	}
	return s, sqlTypeRe.MatchString(s)
}

// IsWarehouseID reports whether s looks like a SQL warehouse id.
func IsWarehouseID(s string) bool { return warehouseIDRe.MatchString(s) }

// loadSQL reads the SQL settings (docs/sql.md): the mode, the named statements, the warehouse
// allow-list and the result bounds.
func (c *Config) loadSQL(get func(string) string) error {
	c.SQL = SQLMode(strings.ToLower(get(EnvSQL)))
	switch c.SQL {
	case "":
		c.SQL = SQLAny
	case SQLAny, SQLNamed, SQLOff:
	default:
		return &Error{EnvSQL, "must be any, named or off"}
	}

	c.Warehouses = splitList(get(EnvWarehouses))
	for _, id := range c.Warehouses {
		if !IsWarehouseID(id) {
			return &Error{EnvWarehouses, "must be SQL warehouse ids separated by commas (letters, digits, - and _)"}
		}
	}

	var err error
	if c.SQLStatements, err = loadNamedStatements(get(EnvSQLStatements), c.Warehouses); err != nil {
		return &Error{EnvSQLStatements, err.Error()}
	}
	if c.SQL == SQLNamed && len(c.SQLStatements) == 0 {
		return &Error{EnvSQLStatements, "must define at least one statement when " + EnvSQL + "=named"}
	}

	if c.SQLMaxRows, err = boundedInt(get(EnvSQLMaxRows), DefaultSQLMaxRows, MaxSQLRows); err != nil {
		return &Error{EnvSQLMaxRows, fmt.Sprintf("must be a whole number of rows from 1 to %d", MaxSQLRows)}
	}
	if c.SQLMaxBytes, err = boundedInt(get(EnvSQLMaxBytes), DefaultSQLMaxBytes, MaxSQLBytes); err != nil {
		return &Error{EnvSQLMaxBytes, fmt.Sprintf("must be a whole number of bytes from 1 to %d", MaxSQLBytes)}
	}
	return nil
}

// boundedInt parses raw as 1…max, def when raw is empty.
func boundedInt(raw string, def, max int64) (int64, error) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("out of range")
	}
	return n, nil
}

// loadNamedStatements reads FLOWBRICKS_SQL_STATEMENTS: the JSON itself when it starts with "{",
// else the path of a file holding it. Errors name the statement and what is wrong, never a
// statement's text.
func loadNamedStatements(raw string, allowedWarehouses []string) (map[string]NamedStatement, error) {
	if raw == "" {
		return nil, nil
	}
	data := []byte(raw)
	if !strings.HasPrefix(raw, "{") {
		var err error
		if data, err = os.ReadFile(raw); err != nil {
			return nil, fmt.Errorf("must be a JSON object or the path of a JSON file (the file cannot be read: %v)", errWithoutPath(err))
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var defs map[string]NamedStatement
	if err := dec.Decode(&defs); err != nil {
		return nil, fmt.Errorf("must map statement names to {\"statement\", \"parameters\", \"warehouse_id\", \"description\"} (%v)", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("has data after the JSON object")
	}
	if len(defs) > maxNamedStatements {
		return nil, fmt.Errorf("defines %d statements; at most %d are allowed", len(defs), maxNamedStatements)
	}
	for name, d := range defs {
		if !statementNameRe.MatchString(name) {
			return nil, fmt.Errorf("statement name %q must be 1 to %d letters, digits, _, . or -", name, maxStatementNameSize)
		}
		if strings.TrimSpace(d.Statement) == "" {
			return nil, fmt.Errorf("statement %s has no statement text", name)
		}
		if len(d.Statement) > maxStatementBytes {
			return nil, fmt.Errorf("statement %s is longer than %d bytes", name, maxStatementBytes)
		}
		if len(d.Parameters) > maxStatementParams {
			return nil, fmt.Errorf("statement %s declares more than %d parameters", name, maxStatementParams)
		}
		types := make(map[string]string, len(d.Parameters))
		for p, typ := range d.Parameters {
			if !IsSQLIdentifier(p) {
				return nil, fmt.Errorf("statement %s: parameter name %q must be a SQL identifier ([A-Za-z_][A-Za-z0-9_]*)", name, p)
			}
			norm, ok := SQLTypeName(typ)
			if !ok {
				return nil, fmt.Errorf("statement %s: parameter %s has type %q, which is not a Databricks type name", name, p, typ)
			}
			if !hasMarker(d.Statement, p) {
				return nil, fmt.Errorf("statement %s: parameter %s does not appear as :%s in the statement text", name, p, p)
			}
			types[p] = norm
		}
		d.Parameters = types
		if d.WarehouseID != "" {
			if !IsWarehouseID(d.WarehouseID) {
				return nil, fmt.Errorf("statement %s: warehouse_id %q is not a SQL warehouse id", name, d.WarehouseID)
			}
			if len(allowedWarehouses) > 0 && !slices.Contains(allowedWarehouses, d.WarehouseID) {
				return nil, fmt.Errorf("statement %s: warehouse_id %s is not in %s", name, d.WarehouseID, EnvWarehouses)
			}
		}
		defs[name] = d
	}
	return defs, nil
}

// hasMarker reports whether text has the named parameter marker :name (not part of a longer
// name, and not the :: of a cast).
func hasMarker(text, name string) bool {
	return regexp.MustCompile(`(^|[^:]):` + regexp.QuoteMeta(name) + `\b`).MatchString(text)
}

// errWithoutPath is err without the path it names: the setting may be a JSON text that was taken
// for a path because it does not start with "{", and that text is not for the log.
func errWithoutPath(err error) error {
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}
