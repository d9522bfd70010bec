package databricks

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go/service/sql"
)

// The execute-statement body is flowbricks' own struct (wireExecuteRequest) for speed; it must
// say exactly what the SDK's sql.ExecuteStatementRequest says for the same request, with the
// SDK's own omission rules (ForceSendFields for an empty parameter value).
func TestExecuteRequestEncodesLikeTheSDK(t *testing.T) {
	empty, text, null := "", "EMEA", (*string)(nil)
	tests := []struct {
		name string
		r    StatementRequest
	}{
		{"the minimum", StatementRequest{WarehouseID: "wh", Statement: "SELECT 1"}},
		{"every field", StatementRequest{
			WarehouseID: "5f3c0a1b2c3d4e5f", Statement: "SELECT * FROM t WHERE a = :a AND b = :b AND c = :c",
			Parameters: []StatementParameter{{Name: "a", Value: &text}, {Name: "b", Type: "DATE", Value: &empty}, {Name: "c", Type: "INT", Value: null}},
			Catalog:    "main", Schema: "sales", RowLimit: 10_000, ByteLimit: 4 << 20, Wait: 10 * time.Second,
			QueryTags: []QueryTag{{Key: "flowbricks"}, {Key: "flowbricks_action", Value: "Run_a_SQL_statement"}},
		}},
		{"an empty string parameter is sent, a nil one is not", StatementRequest{
			WarehouseID: "wh", Statement: "SELECT :x, :y",
			Parameters: []StatementParameter{{Name: "x", Value: &empty}, {Name: "y"}},
		}},
		{"the longest wait", StatementRequest{WarehouseID: "wh", Statement: "SELECT 1", Wait: MaxStatementWait}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, err := executeRequest(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := decodeJSON(t, ours), decodeJSON(t, sdkExecuteRequest(tt.r, ours.WaitTimeout, ours.QueryTags)); !reflect.DeepEqual(got, want) {
				t.Errorf("flowbricks sends\n%v\nthe SDK's type says\n%v", got, want)
			}
		})
	}
}

// sdkExecuteRequest is the same request in the SDK's type (the tags and wait as flowbricks
// computed them: their cleaning is tested on its own).
func sdkExecuteRequest(r StatementRequest, wait string, tags []wireQueryTag) sql.ExecuteStatementRequest {
	req := sql.ExecuteStatementRequest{
		WarehouseId: r.WarehouseID, Statement: r.Statement, Catalog: r.Catalog, Schema: r.Schema,
		RowLimit: r.RowLimit, ByteLimit: r.ByteLimit, WaitTimeout: wait,
		Disposition: sql.DispositionInline, Format: sql.FormatJsonArray,
		OnWaitTimeout: sql.ExecuteStatementRequestOnWaitTimeoutContinue,
	}
	for _, p := range r.Parameters {
		item := sql.StatementParameterListItem{Name: p.Name, Type: p.Type}
		if p.Value != nil {
			item.Value = *p.Value
			item.ForceSendFields = []string{"Value"}
		}
		req.Parameters = append(req.Parameters, item)
	}
	for _, tg := range tags {
		req.QueryTags = append(req.QueryTags, sql.QueryTag{Key: tg.Key, Value: tg.Value})
	}
	return req
}

func decodeJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// BenchmarkEncodeExecuteRequest is the body of the bench's small statement: what encoding it
// costs per statement.
func BenchmarkEncodeExecuteRequest(b *testing.B) {
	active := "true"
	r := StatementRequest{WarehouseID: "5f3c0a1b2c3d4e5f",
		Statement:  "SELECT region, manager, active FROM main.sales.regions WHERE active = :active ORDER BY region",
		Parameters: []StatementParameter{{Name: "active", Type: "BOOLEAN", Value: &active}},
		RowLimit:   10_000, ByteLimit: 4 << 20, Wait: 10 * time.Second,
		QueryTags: []QueryTag{{Key: "flowbricks"}, {Key: "flowbricks_workflow_run", Value: "08585000000000000000000000000CU00"},
			{Key: "flowbricks_action", Value: "Run_a_SQL_statement"}}}
	b.ReportAllocs()
	for b.Loop() {
		req, err := executeRequest(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(req); err != nil {
			b.Fatal(err)
		}
	}
}
