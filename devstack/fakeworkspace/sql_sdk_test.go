package fakeworkspace

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go/apierr"
	"github.com/databricks/databricks-sdk-go/service/sql"
)

// The unmodified SDK drives the fake end to end: what works here works against a real workspace's
// wire format as far as the SDK can tell.
func TestSQLWithTheUnmodifiedSDK(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	se := sql.NewStatementExecution(h.client)
	wh := sql.NewWarehouses(h.client)

	t.Run("execute, then walk every chunk", func(t *testing.T) {
		r, err := se.ExecuteStatement(h.as("alice"), sql.ExecuteStatementRequest{
			WarehouseId: sharedWH, Statement: "SELECT order_id, amount, region FROM orders WHERE region = :region ORDER BY order_id",
			Catalog: "main", Schema: "sales", WaitTimeout: "10s", OnWaitTimeout: sql.ExecuteStatementRequestOnWaitTimeoutContinue,
			Disposition: sql.DispositionInline, Format: sql.FormatJsonArray,
			Parameters: []sql.StatementParameterListItem{{Name: "region", Value: "EMEA"}},
			QueryTags:  []sql.QueryTag{{Key: "flowbricks"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.State != sql.StatementStateSucceeded || r.Manifest.TotalRowCount != 240 || r.Manifest.TotalChunkCount != 3 ||
			r.Manifest.Schema.Columns[1].TypeName != sql.ColumnInfoTypeNameDecimal || r.Manifest.Schema.Columns[1].TypeScale != 2 {
			t.Fatalf("execute: %+v manifest %+v", r.Status, r.Manifest)
		}
		rows, chunk := 0, r.Result
		for {
			for _, row := range chunk.DataArray {
				if row[2] != "EMEA" {
					t.Fatalf("row %v", row)
				}
			}
			rows += len(chunk.DataArray)
			if chunk.NextChunkInternalLink == "" {
				break
			}
			if chunk, err = se.GetStatementResultChunkN(h.as("alice"), sql.GetStatementResultChunkNRequest{
				StatementId: r.StatementId, ChunkIndex: chunk.NextChunkIndex}); err != nil {
				t.Fatal(err)
			}
		}
		if rows != 240 {
			t.Errorf("%d rows", rows)
		}
		got, err := se.GetStatementByStatementId(h.as("alice"), r.StatementId)
		if err != nil || got.Status.State != sql.StatementStateSucceeded || len(got.Result.DataArray) != 100 {
			t.Errorf("get: %+v %v", got, err)
		}
	})

	t.Run("bob's statement on orders FAILS with Unity Catalog's error (HTTP 200)", func(t *testing.T) {
		r, err := se.ExecuteStatement(h.as("bob"), sql.ExecuteStatementRequest{WarehouseId: sharedWH, Statement: "SELECT * FROM main.sales.orders"})
		if err != nil || r.Status.State != sql.StatementStateFailed || r.Status.SqlState != "42501" ||
			!strings.HasPrefix(r.Status.Error.Message, "[INSUFFICIENT_PERMISSIONS] Insufficient privileges:") {
			t.Errorf("%+v %v", r.Status, err)
		}
	})

	t.Run("sleep, cancel, CANCELED", func(t *testing.T) {
		r, err := se.ExecuteStatement(h.as("alice"), sql.ExecuteStatementRequest{WarehouseId: sharedWH, WaitTimeout: "0s",
			Statement: "SELECT region FROM main.sales.regions /* devstack:sleep=20 */"})
		if err != nil || r.Status.State != sql.StatementStatePending {
			t.Fatalf("%+v %v", r, err)
		}
		if err := se.CancelExecution(h.as("alice"), sql.CancelExecutionRequest{StatementId: r.StatementId}); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(time.Minute)
		got, err := se.GetStatementByStatementId(h.as("alice"), r.StatementId)
		if err != nil || got.Status.State != sql.StatementStateCanceled || got.Result != nil {
			t.Errorf("%+v %v", got, err)
		}
	})

	t.Run("errors the SDK classifies", func(t *testing.T) {
		_, err := se.GetStatementByStatementId(h.as("alice"), "01f0ffff-0000-4000-8000-000000000000")
		if !errors.Is(err, apierr.ErrNotFound) {
			t.Errorf("unknown statement: %v", err)
		}
		_, err = se.ExecuteStatement(h.as("bob"), sql.ExecuteStatementRequest{WarehouseId: financeWH, Statement: "SELECT 1"})
		if !errors.Is(err, apierr.ErrPermissionDenied) {
			t.Errorf("no CAN_USE: %v", err)
		}
		_, err = se.ExecuteStatement(h.as("alice"), sql.ExecuteStatementRequest{WarehouseId: "ffffffffffffffff", Statement: "SELECT 1"})
		if !errors.Is(err, apierr.ErrResourceDoesNotExist) {
			t.Errorf("unknown warehouse: %v", err)
		}
		_, err = se.ExecuteStatement(h.as("carol"), sql.ExecuteStatementRequest{WarehouseId: sharedWH, Statement: "SELECT 1"})
		var ae *apierr.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 403 || ae.Message != "User not authorized" {
			t.Errorf("carol: %v", err)
		}
	})

	t.Run("Warehouses.ListAll", func(t *testing.T) {
		for user, want := range map[string]int{"alice": 3, "bob": 2} {
			ws, err := wh.ListAll(h.as(user), sql.ListWarehousesRequest{})
			if err != nil || len(ws) != want {
				t.Errorf("%s: %d warehouses, %v", user, len(ws), err)
			}
		}
	})
}
