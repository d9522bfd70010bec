package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/flowbricks/flowbricks/internal/databricks"
)

// fakeSQL is the SQL side of fakeJobs: an in-memory Statement Execution API whose statements the
// tests drive. What an execute produces depends on the text: "FAIL" fails with Unity Catalog's
// permission error, "SLEEP" stays RUNNING until the test moves it, anything else succeeds with
// ordersResult (five rows in chunks of two).
type fakeSQL struct {
	mu         sync.Mutex
	statements map[string]*fakeStatement
	executed   []databricks.StatementRequest
	canceled   []string
	warehouses []databricks.Warehouse
	sqlErr     error         // returned by every SQL call when set
	executeErr error         // returned by ExecuteStatement when set
	gate       chan struct{} // when set, ExecuteStatement waits for it to close
	entered    chan struct{} // when set, ExecuteStatement sends on it on entry
	nextID     int
}

type fakeStatement struct {
	st     databricks.Statement // Chunk is nil; chunks hold the rows
	chunks []databricks.Chunk
}

func newFakeSQL() *fakeSQL {
	return &fakeSQL{
		statements: map[string]*fakeStatement{},
		warehouses: []databricks.Warehouse{
			{ID: "9a8b7c6d5e4f3a2b", Name: "Cold Warehouse", State: "STOPPED"},
			{ID: "5f3c0a1b2c3d4e5f", Name: "Shared SQL", State: "RUNNING"},
			{ID: "0f1e2d3c4b5a6978", Name: "Finance SQL", State: "RUNNING"},
			{ID: "1111111111111111", Name: "Twin", State: "RUNNING"},
			{ID: "2222222222222222", Name: "twin", State: "STOPPED"},
		},
	}
}

func str(s string) *string { return &s }

// ordersColumns and ordersRows are the result of every successful fake statement.
var ordersColumns = []databricks.Column{
	{Name: "order_id", Position: 0, TypeName: "LONG", TypeText: "BIGINT"},
	{Name: "amount", Position: 1, TypeName: "DECIMAL", TypeText: "DECIMAL(10,2)", Precision: 10, Scale: 2},
	{Name: "shipped", Position: 2, TypeName: "BOOLEAN", TypeText: "BOOLEAN"},
	{Name: "order_date", Position: 3, TypeName: "DATE", TypeText: "DATE"},
	{Name: "tags", Position: 4, TypeName: "ARRAY", TypeText: "ARRAY<STRING>"},
	{Name: "customer", Position: 5, TypeName: "STRUCT", TypeText: "STRUCT<id: INT, tier: STRING>"},
	{Name: "note", Position: 6, TypeName: "STRING", TypeText: "STRING"},
}

var ordersRows = [][]*string{
	{str("1001"), str("129.90"), str("true"), str("2026-11-28"), str(`["web","promo"]`), str(`{"id":7,"tier":"gold"}`), nil},
	{str("9007199254740993"), str("5.00"), str("false"), str("2026-11-29"), str(`[]`), str(`{"id":8,"tier":"silver"}`), str("gift")},
	{str("1003"), str("0.10"), nil, str("2026-11-30"), nil, nil, str("")},
	{str("1004"), str("1.00"), str("true"), str("2026-12-01"), str(`["web"]`), str(`{"id":7,"tier":"gold"}`), str("x")},
	{str("1005"), str("2.50"), str("true"), str("2026-12-02"), str(`["store"]`), str(`{"id":9,"tier":"gold"}`), str("y")},
}

// permissionError is what Databricks answers bob on main.sales.orders: a FAILED statement.
var permissionError = &databricks.StatementError{
	Code:     "PERMISSION_DENIED",
	Message:  "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on Table 'main.sales.orders'.",
	SQLState: "42501",
}

func (f *fakeSQL) ExecuteStatement(ctx context.Context, r databricks.StatementRequest) (databricks.Statement, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return databricks.Statement{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := errors.Join(f.sqlErr, f.executeErr); err != nil {
		return databricks.Statement{}, err
	}
	f.executed = append(f.executed, r)
	f.nextID++
	id := fmt.Sprintf("01f0c2a4-0000-4000-8000-%012d", f.nextID)
	fs := &fakeStatement{st: databricks.Statement{ID: id, State: databricks.StatementSucceeded}}
	switch {
	case strings.Contains(r.Statement, "FAIL"):
		fs.st.State, fs.st.Error = databricks.StatementFailed, permissionError
	case strings.Contains(r.Statement, "SLEEP"):
		fs.st.State = databricks.StatementRunning
	default:
		fs.setResult(ordersColumns, ordersRows, 2)
	}
	f.statements[id] = fs
	return fs.withChunk(), nil
}

// setResult gives the statement a result of rows in chunks of size.
func (fs *fakeStatement) setResult(cols []databricks.Column, rows [][]*string, size int) {
	fs.st.Columns, fs.st.TotalRows = cols, int64(len(rows))
	fs.chunks = nil
	for i := 0; i < len(rows); i += size {
		end := min(i+size, len(rows))
		fs.chunks = append(fs.chunks, databricks.Chunk{Index: len(fs.chunks), RowOffset: int64(i), RowCount: int64(end - i), Rows: rows[i:end], NextIndex: len(fs.chunks) + 1})
	}
	if n := len(fs.chunks); n > 0 {
		fs.chunks[n-1].NextIndex = -1
	}
	fs.st.TotalChunks = len(fs.chunks)
}

// withChunk is the statement as execute and get answer it: with chunk 0 once it succeeded.
func (fs *fakeStatement) withChunk() databricks.Statement {
	st := fs.st
	if st.State == databricks.StatementSucceeded && len(fs.chunks) > 0 {
		c := fs.chunks[0]
		st.Chunk = &c
	}
	return st
}

func (f *fakeSQL) statement(op, id string) (*fakeStatement, error) {
	if f.sqlErr != nil {
		return nil, f.sqlErr
	}
	fs, ok := f.statements[id]
	if !ok {
		return nil, &databricks.Error{Kind: databricks.ErrStatementNotFound, Op: op, StatusCode: 404,
			Detail: fmt.Sprintf("The statement %s does not exist.", id)}
	}
	return fs, nil
}

func (f *fakeSQL) GetStatement(_ context.Context, id string) (databricks.Statement, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fs, err := f.statement(databricks.OpGetStatement, id)
	if err != nil {
		return databricks.Statement{}, err
	}
	return fs.withChunk(), nil
}

func (f *fakeSQL) StatementChunk(_ context.Context, id string, index int) (databricks.Chunk, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fs, err := f.statement(databricks.OpStatementChunk, id)
	if err != nil {
		return databricks.Chunk{}, err
	}
	if index < 0 || index >= len(fs.chunks) {
		return databricks.Chunk{}, &databricks.Error{Kind: databricks.ErrInvalidRequest, Op: databricks.OpStatementChunk, StatusCode: 400,
			Detail: fmt.Sprintf("chunk index %d is out of range", index)}
	}
	return fs.chunks[index], nil
}

func (f *fakeSQL) CancelStatement(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fs, err := f.statement(databricks.OpCancelStatement, id)
	if err != nil {
		return err
	}
	f.canceled = append(f.canceled, id)
	if !fs.st.Terminal() {
		fs.st.State = databricks.StatementCanceled
	}
	return nil
}

func (f *fakeSQL) ListWarehouses(context.Context) ([]databricks.Warehouse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]databricks.Warehouse(nil), f.warehouses...), f.sqlErr
}

// set changes a statement the test drives (a SLEEP statement finishing, say).
func (f *fakeSQL) set(id string, change func(*fakeStatement)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.statements[id])
}

func (f *fakeSQL) executions() []databricks.StatementRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]databricks.StatementRequest(nil), f.executed...)
}

// noSQL is the SQL side of fakes whose tests call no SQL endpoint.
type noSQL struct{}

func (noSQL) ExecuteStatement(context.Context, databricks.StatementRequest) (databricks.Statement, error) {
	return databricks.Statement{}, errors.ErrUnsupported
}
func (noSQL) GetStatement(context.Context, string) (databricks.Statement, error) {
	return databricks.Statement{}, errors.ErrUnsupported
}
func (noSQL) StatementChunk(context.Context, string, int) (databricks.Chunk, error) {
	return databricks.Chunk{}, errors.ErrUnsupported
}
func (noSQL) CancelStatement(context.Context, string) error { return errors.ErrUnsupported }
func (noSQL) ListWarehouses(context.Context) ([]databricks.Warehouse, error) {
	return nil, errors.ErrUnsupported
}
