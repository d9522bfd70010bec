package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowbricks/flowbricks/internal/databricks"
)

// TestTypedValues: each JSON_ARRAY string becomes the JSON value its column's type_name calls for
// (docs/sql.md, Types), without losing a digit.
func TestTypedValues(t *testing.T) {
	tests := []struct {
		name     string
		typeName string // type_name ("" = take it from type_text)
		typeText string
		value    *string // nil = NULL
		want     string  // the JSON of the value
	}{
		{"TINYINT", "BYTE", "TINYINT", str("-7"), `-7`},
		{"SMALLINT", "SHORT", "SMALLINT", str("32000"), `32000`},
		{"INT", "INT", "INT", str("42"), `42`},
		{"INT, negative", "INT", "INT", str("-2147483648"), `-2147483648`},
		{"BIGINT at 2^53 is a number", "LONG", "BIGINT", str("9007199254740992"), `9007199254740992`},
		{"BIGINT at 2^53+1 is a string", "LONG", "BIGINT", str("9007199254740993"), `"9007199254740993"`},
		{"BIGINT at -2^53 is a number", "LONG", "BIGINT", str("-9007199254740992"), `-9007199254740992`},
		{"BIGINT below -2^53 is a string", "LONG", "BIGINT", str("-9007199254740993"), `"-9007199254740993"`},
		{"BIGINT, largest", "LONG", "BIGINT", str("9223372036854775807"), `"9223372036854775807"`},
		{"an integer that does not parse stays text", "INT", "INT", str("12a"), `"12a"`},
		{"DECIMAL is always a string", "DECIMAL", "DECIMAL(10,2)", str("129.90"), `"129.90"`},
		{"DECIMAL with an exponent stays as sent", "DECIMAL", "DECIMAL(38,18)", str("1.5E+20"), `"1.5E+20"`},
		{"DOUBLE keeps its text", "DOUBLE", "DOUBLE", str("0.1"), `0.1`},
		{"DOUBLE with an exponent", "DOUBLE", "DOUBLE", str("1.0E10"), `1.0E10`},
		{"FLOAT, negative", "FLOAT", "FLOAT", str("-3.5"), `-3.5`},
		{"DOUBLE NaN is a string", "DOUBLE", "DOUBLE", str("NaN"), `"NaN"`},
		{"DOUBLE Infinity is a string", "DOUBLE", "DOUBLE", str("Infinity"), `"Infinity"`},
		{"DOUBLE -Infinity is a string", "DOUBLE", "DOUBLE", str("-Infinity"), `"-Infinity"`},
		{"DOUBLE outside JSON's grammar is reformatted", "DOUBLE", "DOUBLE", str(".5"), `0.5`},
		{"BOOLEAN true", "BOOLEAN", "BOOLEAN", str("true"), `true`},
		{"BOOLEAN false", "BOOLEAN", "BOOLEAN", str("false"), `false`},
		{"DATE", "DATE", "DATE", str("2026-11-28"), `"2026-11-28"`},
		{"TIMESTAMP as sent", "TIMESTAMP", "TIMESTAMP", str("2026-11-28T09:30:00.123Z"), `"2026-11-28T09:30:00.123Z"`},
		{"TIMESTAMP_NTZ as sent", "TIMESTAMP_NTZ", "TIMESTAMP_NTZ", str("2026-11-28T09:30:00"), `"2026-11-28T09:30:00"`},
		{"ARRAY is parsed", "ARRAY", "ARRAY<STRING>", str(`["web", "promo"]`), `["web","promo"]`},
		{"MAP is parsed", "MAP", "MAP<STRING,INT>", str(`{"a":1}`), `{"a":1}`},
		{"nested STRUCT with an array", "STRUCT", "STRUCT<id: INT, tags: ARRAY<STRING>, address: STRUCT<city: STRING>>",
			str(`{"id":7,"tags":["a","b"],"address":{"city":"Lyon"}}`), `{"id":7,"tags":["a","b"],"address":{"city":"Lyon"}}`},
		{"invalid JSON in an ARRAY column stays text", "ARRAY", "ARRAY<STRING>", str(`[web, promo`), `"[web, promo"`},
		{"BINARY as Databricks sends it (base64)", "BINARY", "BINARY", str("U3Bhcms="), `"U3Bhcms="`},
		{"BINARY that is not base64 is encoded", "BINARY", "BINARY", str("Spark!"), `"U3Bhcmsh"`},
		{"STRING", "STRING", "STRING", str(`say "hi"`), `"say \"hi\""`},
		{"STRING that looks like a number stays a string", "STRING", "STRING", str("00123"), `"00123"`},
		{"empty STRING is not null", "STRING", "STRING", str(""), `""`},
		{"CHAR", "CHAR", "CHAR(3)", str("abc"), `"abc"`},
		{"INTERVAL", "INTERVAL", "INTERVAL DAY TO SECOND", str("1 02:03:04.000000000"), `"1 02:03:04.000000000"`},
		{"an unknown type is a string", "USER_DEFINED_TYPE", "GEOGRAPHY", str("POINT(1 2)"), `"POINT(1 2)"`},
		{"NULL of any type", "LONG", "BIGINT", nil, `null`},
		{"NULL type", "NULL", "VOID", nil, `null`},
		{"no type_name: BIGINT from type_text", "", "BIGINT", str("12"), `12`},
		{"no type_name: DECIMAL from type_text", "", "DECIMAL(10,2)", str("12.00"), `"12.00"`},
		{"no type_name: ARRAY from type_text", "", "ARRAY<INT>", str("[1,2]"), `[1,2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols := sqlColumns([]databricks.Column{{Name: "v", TypeName: tt.typeName, TypeText: tt.typeText}})
			rows, long := sqlRows(cols, [][]*string{{tt.value}})
			if long || len(rows) != 1 {
				t.Fatalf("rows %q long %v", rows, long)
			}
			if got, want := string(rows[0]), `{"v":`+tt.want+`}`; got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
			if !json.Valid(rows[0]) {
				t.Fatalf("not JSON: %s", rows[0])
			}
		})
	}
}

// TestRowShapes: keys follow the columns in order; a duplicate column name gets _2, _3 (and a
// name that is taken already moves on); a short row has null for the missing values and a long
// row's extra values are dropped and reported.
func TestRowShapes(t *testing.T) {
	cols := sqlColumns([]databricks.Column{
		{Name: "id", TypeName: "INT"}, {Name: "name", TypeName: "STRING"}, {Name: "id", TypeName: "INT"},
		{Name: "id_2", TypeName: "STRING"}, {Name: "id", TypeName: "LONG"},
	})
	var keys []string
	for _, c := range cols {
		keys = append(keys, c.Key)
	}
	if got := strings.Join(keys, ","); got != "id,name,id_2,id_2_2,id_3" {
		t.Fatalf("keys %s", got)
	}

	tests := []struct {
		name string
		row  []*string
		want string
		long bool
	}{
		{"full row", []*string{str("1"), str("a"), str("2"), str("b"), str("3")}, `{"id":1,"name":"a","id_2":2,"id_2_2":"b","id_3":3}`, false},
		{"short row: missing keys are null", []*string{str("1"), str("a")}, `{"id":1,"name":"a","id_2":null,"id_2_2":null,"id_3":null}`, false},
		{"empty row", []*string{}, `{"id":null,"name":null,"id_2":null,"id_2_2":null,"id_3":null}`, false},
		{"long row: extra values dropped", []*string{str("1"), str("a"), str("2"), str("b"), str("3"), str("extra"), nil}, `{"id":1,"name":"a","id_2":2,"id_2_2":"b","id_3":3}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, long := sqlRows(cols, [][]*string{tt.row})
			if string(rows[0]) != tt.want || long != tt.long {
				t.Fatalf("got %s long %v, want %s long %v", rows[0], long, tt.want, tt.long)
			}
		})
	}

	t.Run("no rows is an empty array, not null", func(t *testing.T) {
		rows, _ := sqlRows(cols, nil)
		if b, _ := json.Marshal(rows); string(b) != "[]" {
			t.Fatalf("%s", b)
		}
	})
}
