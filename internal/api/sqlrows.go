package api

// Typed rows: a statement's JSON_ARRAY result carries every value as a string (or null); a flow
// wants numbers as numbers, booleans as booleans and nested values as JSON it can address without
// a Parse JSON step. The conversion follows the result manifest's type_name (docs/sql.md, Types),
// and never loses precision: a BIGINT beyond 2^53 (where JSON readers such as JavaScript and
// Power Automate round) and every DECIMAL stay strings.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/flowbricks/flowbricks/internal/databricks"
)

// sqlColumn is one column of a statement's result.
type sqlColumn struct {
	Name     string `json:"name" doc:"The column's name."`
	Key      string `json:"key" doc:"The column's key in rows: its name, or name_2, name_3… when several columns share a name."`
	Type     string `json:"type" doc:"The SQL type as written (Databricks' type_text), for example BIGINT, DECIMAL(10,2) or ARRAY<STRING>."`
	TypeName string `json:"type_name" doc:"Databricks' type name (type_name), for example LONG, DECIMAL, ARRAY."`
	Position int    `json:"position" doc:"The column's position, from 0."`

	kind valueKind // how its values are converted
}

// valueKind is how a column's values become JSON.
type valueKind int

const (
	kindString  valueKind = iota // the string as Databricks sent it
	kindInteger                  // a number, or a string beyond ±2^53
	kindFloat                    // a number; NaN and ±Infinity stay strings
	kindBool                     // true/false
	kindNested                   // parsed JSON (ARRAY, MAP, STRUCT)
	kindBinary                   // a base64 string
)

// maxSafeInteger is 2^53: every integer of at most this magnitude is exact in an IEEE double,
// the number type of JSON readers such as JavaScript and Power Automate's expressions.
const maxSafeInteger = 1 << 53

// kindOf chooses a column's conversion from its type_name (or, when Databricks sent none, from
// its type_text). DECIMAL is a string: its precision exceeds a double's. DATE and TIMESTAMP stay
// the ISO 8601 strings Databricks sends.
func kindOf(c databricks.Column) valueKind {
	name := strings.ToUpper(strings.TrimSpace(c.TypeName))
	if name == "" {
		name = strings.ToUpper(strings.TrimSpace(c.TypeText))
		if i := strings.IndexAny(name, "(< "); i >= 0 {
			name = name[:i]
		}
	}
	switch name {
	case "TINYINT", "BYTE", "SMALLINT", "SHORT", "INT", "INTEGER", "BIGINT", "LONG":
		return kindInteger
	case "FLOAT", "REAL", "DOUBLE":
		return kindFloat
	case "BOOLEAN":
		return kindBool
	case "ARRAY", "MAP", "STRUCT":
		return kindNested
	case "BINARY":
		return kindBinary
	}
	return kindString
}

// sqlColumns describes a result's columns, each with the key it has in rows: its name, or, for
// the second and later columns of one name (SELECT a.id, b.id), the name with _2, _3… — a row
// object cannot hold one key twice.
func sqlColumns(cols []databricks.Column) []sqlColumn {
	out := make([]sqlColumn, 0, len(cols))
	used := make(map[string]bool, len(cols))
	for _, c := range cols {
		key := c.Name
		for n := 2; used[key]; n++ {
			key = c.Name + "_" + strconv.Itoa(n)
		}
		used[key] = true
		out = append(out, sqlColumn{Name: c.Name, Key: key, Type: c.TypeText, TypeName: c.TypeName, Position: c.Position, kind: kindOf(c)})
	}
	return out
}

// sqlRows converts rows of JSON_ARRAY values into JSON objects keyed by the columns' keys, in
// column order. A row with fewer values than columns has null for the missing ones; values beyond
// the last column are dropped, and long reports that some row had them.
func sqlRows(cols []sqlColumn, rows [][]*string) (out []json.RawMessage, long bool) {
	keys := make([][]byte, len(cols))
	for i, c := range cols {
		keys[i], _ = json.Marshal(c.Key) // a string always marshals
	}
	out = make([]json.RawMessage, 0, len(rows))
	var b bytes.Buffer
	for _, row := range rows {
		long = long || len(row) > len(cols)
		b.Reset()
		b.WriteByte('{')
		for i, c := range cols {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(keys[i])
			b.WriteByte(':')
			var v *string
			if i < len(row) {
				v = row[i]
			}
			appendValue(&b, c.kind, v)
		}
		b.WriteByte('}')
		out = append(out, bytes.Clone(b.Bytes()))
	}
	return out, long
}

// appendValue writes one value of kind k as JSON.
func appendValue(b *bytes.Buffer, k valueKind, v *string) {
	if v == nil {
		b.WriteString("null")
		return
	}
	s := *v
	switch k {
	case kindInteger:
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil && n >= -maxSafeInteger && n <= maxSafeInteger {
			b.WriteString(strconv.FormatInt(n, 10))
			return
		}
	case kindFloat:
		t := strings.TrimSpace(s)
		if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			if isJSONNumber(t) {
				b.WriteString(t) // the exact text: 0.1 stays 0.1, 1.0E10 stays 1.0E10
			} else {
				b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
			}
			return
		}
	case kindBool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			b.WriteString("true")
			return
		case "false":
			b.WriteString("false")
			return
		}
	case kindNested:
		if json.Valid([]byte(s)) {
			_ = json.Compact(b, []byte(s)) // cannot fail on valid JSON
			return
		}
	case kindBinary:
		// Databricks sends BINARY base64-encoded; should a value not be base64, its bytes are
		// encoded here, so the answer always carries base64.
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			s = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	appendString(b, s)
}

func appendString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}

// isJSONNumber reports whether s is a number in JSON's grammar (which refuses "+1", ".5", "1."
// and "0x10", all of which strconv.ParseFloat accepts).
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	var v json.Number
	return json.Unmarshal([]byte(s), &v) == nil
}
