package fakeworkspace

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// dbxType is a Databricks SQL type as the Statement Execution API describes a result column: type_name
// (the ColumnInfoTypeName enum of databricks-sdk-go service/sql/model.go: BYTE, SHORT, INT, LONG,
// FLOAT, DOUBLE, DECIMAL, STRING, CHAR, BOOLEAN, DATE, TIMESTAMP, BINARY, ARRAY, MAP, STRUCT, NULL, …),
// type_text (the SQL spelling: BIGINT, DECIMAL(10,2), ARRAY<STRING>) and, for DECIMAL, precision and
// scale.
type dbxType struct {
	Name      string
	Text      string
	Precision int
	Scale     int
}

// Types of computed result columns, which have no declared type: SQLite's dynamic type of the values
// decides (an integer is what Databricks' count(*) gives, a BIGINT; a real is a DOUBLE).
var (
	typeLong   = dbxType{Name: "LONG", Text: "BIGINT"}
	typeDouble = dbxType{Name: "DOUBLE", Text: "DOUBLE"}
	typeString = dbxType{Name: "STRING", Text: "STRING"}
	typeBinary = dbxType{Name: "BINARY", Text: "BINARY"}
	// typeNull is Spark's NullType, whose SQL name is VOID: a column that is NULL in every row.
	typeNull = dbxType{Name: "NULL", Text: "VOID"}
)

var decimalSpec = regexp.MustCompile(`^\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)\s*$`)

// parseType reads a type as written in a fixture or a statement parameter ("" = STRING, the
// parameter default). Complex types keep the fixture's spelling as their type_text.
func parseType(text string) (dbxType, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return typeString, nil
	}
	base, rest := t, ""
	if i := strings.IndexAny(t, "(<"); i >= 0 {
		base, rest = strings.TrimSpace(t[:i]), t[i:]
	}
	switch b := strings.ToUpper(base); b {
	case "TINYINT", "BYTE":
		return simpleType("BYTE", "TINYINT", rest)
	case "SMALLINT", "SHORT":
		return simpleType("SHORT", "SMALLINT", rest)
	case "INT", "INTEGER":
		return simpleType("INT", "INT", rest)
	case "BIGINT", "LONG":
		return simpleType("LONG", "BIGINT", rest)
	case "FLOAT", "REAL":
		return simpleType("FLOAT", "FLOAT", rest)
	case "DOUBLE":
		return simpleType("DOUBLE", "DOUBLE", rest)
	case "STRING":
		return simpleType("STRING", "STRING", rest)
	case "BOOLEAN":
		return simpleType("BOOLEAN", "BOOLEAN", rest)
	case "DATE":
		return simpleType("DATE", "DATE", rest)
	case "TIMESTAMP":
		return simpleType("TIMESTAMP", "TIMESTAMP", rest)
	case "TIMESTAMP_NTZ":
		return simpleType("TIMESTAMP_NTZ", "TIMESTAMP_NTZ", rest)
	case "BINARY":
		return simpleType("BINARY", "BINARY", rest)
	case "VARCHAR", "CHAR":
		// Databricks reports VARCHAR(n) as a STRING column whose type_text keeps the length.
		name := "STRING"
		if b == "CHAR" {
			name = "CHAR"
		}
		return dbxType{Name: name, Text: b + strings.ReplaceAll(rest, " ", "")}, nil
	case "DECIMAL", "DEC", "NUMERIC":
		p, s := 10, 0 // Databricks' default DECIMAL is DECIMAL(10,0)
		if rest != "" {
			m := decimalSpec.FindStringSubmatch(rest)
			if m == nil {
				return dbxType{}, fmt.Errorf("invalid DECIMAL type %q", text)
			}
			p, _ = strconv.Atoi(m[1])
			if m[2] != "" {
				s, _ = strconv.Atoi(m[2])
			}
			if p < 1 || p > 38 || s > p {
				return dbxType{}, fmt.Errorf("invalid DECIMAL precision/scale in %q", text)
			}
		}
		return dbxType{Name: "DECIMAL", Text: fmt.Sprintf("DECIMAL(%d,%d)", p, s), Precision: p, Scale: s}, nil
	case "ARRAY", "MAP", "STRUCT":
		if !strings.HasPrefix(rest, "<") || !strings.HasSuffix(rest, ">") {
			return dbxType{}, fmt.Errorf("complex type %q needs <…>", text)
		}
		return dbxType{Name: b, Text: b + rest}, nil
	}
	return dbxType{}, fmt.Errorf("unsupported data type %q", text)
}

func simpleType(name, text, rest string) (dbxType, error) {
	if rest != "" {
		return dbxType{}, fmt.Errorf("type %s takes no arguments, got %q", text, rest)
	}
	return dbxType{Name: name, Text: text}, nil
}

// affinity is the SQLite column type a Databricks type is stored as: integers and booleans as
// INTEGER, DECIMAL as REAL (so that comparisons with numbers work; the fixtures' decimals fit a double
// exactly enough to print back at their scale), everything else as TEXT in the form the API sends.
func (t dbxType) affinity() string {
	switch t.Name {
	case "BYTE", "SHORT", "INT", "LONG", "BOOLEAN":
		return "INTEGER"
	case "FLOAT", "DOUBLE", "DECIMAL":
		return "REAL"
	case "BINARY":
		return "BLOB"
	}
	return "TEXT"
}

// render turns a SQLite value of a column of type t into the JSON_ARRAY string form; nil is NULL.
// The forms follow Spark's JSON writer, which produces the JSON_ARRAY results ("each value is either
// the string representation of a value, or null", Format in databricks-sdk-go service/sql/model.go):
// integers in decimal; BOOLEAN true/false; DOUBLE and FLOAT as Java's Double.toString (1.5, 1.0E10,
// NaN, Infinity); DECIMAL with exactly its scale; DATE yyyy-MM-dd; TIMESTAMP ISO 8601 in UTC with
// milliseconds (2026-11-28T10:15:00.000Z); ARRAY, MAP and STRUCT as compact JSON text; BINARY as
// base64 (Jackson's writeBinary).
func (t dbxType) render(v any) *string {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		switch t.Name {
		case "BOOLEAN":
			s = strconv.FormatBool(x != 0)
		case "FLOAT", "DOUBLE":
			s = javaDouble(float64(x))
		case "DECIMAL":
			s = strconv.FormatFloat(float64(x), 'f', t.Scale, 64)
		default:
			s = strconv.FormatInt(x, 10)
		}
	case float64:
		switch t.Name {
		case "DECIMAL":
			s = strconv.FormatFloat(x, 'f', t.Scale, 64)
		case "BYTE", "SHORT", "INT", "LONG":
			s = strconv.FormatInt(int64(x), 10)
		default:
			s = javaDouble(x)
		}
	case bool:
		s = strconv.FormatBool(x)
	case []byte:
		s = base64.StdEncoding.EncodeToString(x)
	case string:
		s = x
	default:
		s = fmt.Sprint(x)
	}
	return &s
}

// javaDouble formats f like Java's Double.toString, which Spark's JSON writer uses: plain notation with
// at least one fractional digit for 1e-3 <= |f| < 1e7, otherwise computerized scientific notation.
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'E', -1, 64), "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// storeValue converts a fixture's JSON value for a column of type t to what SQLite stores.
func (t dbxType) storeValue(raw json.RawMessage) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch t.Name {
	case "ARRAY", "MAP", "STRUCT":
		if s, ok := v.(string); ok {
			return s, nil // already JSON text
		}
		b, err := json.Marshal(v) // compact, as Spark writes it
		return string(b), err
	case "BINARY":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("BINARY values are base64 strings")
		}
		return base64.StdEncoding.DecodeString(s)
	}
	text := fmt.Sprint(v)
	if b, ok := v.(bool); ok {
		text = strconv.FormatBool(b)
	}
	return t.bind(text)
}

// bind converts a value given as text (a statement parameter's value, or a fixture value) to what
// SQLite compares a column of type t with. The error says why the text cannot be cast to t.
func (t dbxType) bind(text string) (any, error) {
	switch t.Name {
	case "BYTE", "SHORT", "INT", "LONG":
		bits := map[string]int{"BYTE": 8, "SHORT": 16, "INT": 32, "LONG": 64}[t.Name]
		return strconv.ParseInt(strings.TrimSpace(text), 10, bits)
	case "FLOAT", "DOUBLE":
		return strconv.ParseFloat(strings.TrimSpace(text), 64)
	case "DECIMAL":
		s := strings.TrimSpace(text)
		if !decimalLiteral.MatchString(s) {
			return nil, fmt.Errorf("not a decimal")
		}
		return strconv.ParseFloat(s, 64)
	case "BOOLEAN":
		// Spark's cast from STRING to BOOLEAN accepts these (case-insensitively).
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "t", "true", "y", "yes", "1":
			return true, nil
		case "f", "false", "n", "no", "0":
			return false, nil
		}
		return nil, fmt.Errorf("not a boolean")
	case "DATE":
		d, err := parseDate(text)
		if err != nil {
			return nil, err
		}
		return d, nil
	case "TIMESTAMP", "TIMESTAMP_NTZ":
		return parseTimestamp(text)
	case "BINARY":
		return []byte(text), nil
	}
	return text, nil
}

var decimalLiteral = regexp.MustCompile(`^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$`)

// timestampLayout is how TIMESTAMP values are stored and sent: ISO 8601 in UTC with milliseconds.
const timestampLayout = "2006-01-02T15:04:05.000Z"

func parseDate(text string) (string, error) {
	d, err := time.Parse(time.DateOnly, strings.TrimSpace(text))
	if err != nil {
		return "", fmt.Errorf("not a date")
	}
	return d.Format(time.DateOnly), nil
}

// parseTimestamp accepts the forms Spark's cast from STRING accepts most often (a date, a date and a
// time with T or a space, an optional fraction and zone) and normalises to timestampLayout, so that
// stored values and parameters compare as text.
func parseTimestamp(text string) (string, error) {
	s := strings.TrimSpace(text)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format(timestampLayout), nil
		}
	}
	return "", fmt.Errorf("not a timestamp")
}
