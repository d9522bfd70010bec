package databricks

import "time"

// The Databricks SQL Statement Execution API 2.0 (docs/architecture.md, Databricks SQL Statement
// Execution API): a statement runs on a SQL warehouse with the caller's own token, so Unity
// Catalog decides per person what it may read. These are flowbricks' shapes of its answers; the
// client methods are in statements_client.go.

// Statement states, as Databricks names them (status.state).
const (
	StatementPending   = "PENDING"
	StatementRunning   = "RUNNING"
	StatementSucceeded = "SUCCEEDED"
	StatementFailed    = "FAILED"
	StatementCanceled  = "CANCELED"
	StatementClosed    = "CLOSED"
)

// Bounds of a statement request Databricks documents (ExecuteStatementRequest): wait_timeout is
// 0 or 5-50 seconds; the statement text at most 16 MiB; at most 20 query tags are kept.
const (
	MinStatementWait  = 5 * time.Second
	MaxStatementWait  = 50 * time.Second
	MaxStatementBytes = 16 << 20
	MaxQueryTags      = 20
)

// StatementRequest is what ExecuteStatement sends. Disposition is always INLINE and format
// JSON_ARRAY: results travel in the answer, never as links to cloud storage.
type StatementRequest struct {
	WarehouseID string
	Statement   string
	// Parameters are sent as Databricks statement parameters (named :markers), never spliced
	// into the text.
	Parameters []StatementParameter
	Catalog    string // "" = the warehouse's default
	Schema     string
	RowLimit   int64 // 0 = no limit
	ByteLimit  int64 // 0 = Databricks' default
	// Wait is wait_timeout: 0 answers at once (PENDING), 5-50 s waits for the result and then
	// lets the statement continue (on_wait_timeout CONTINUE).
	Wait      time.Duration
	QueryTags []QueryTag
}

// StatementParameter is one named parameter. Type is a Databricks SQL type name (INT, DATE,
// DECIMAL(10,2), …); "" means STRING. A nil Value is SQL NULL; an empty string is sent as an
// empty string (the SDK's omitempty would otherwise make it NULL).
type StatementParameter struct {
	Name  string
	Type  string
	Value *string
}

// QueryTag is one query_tags entry: admins find flow-started statements by them in query history.
type QueryTag struct {
	Key   string
	Value string
}

// Statement is a statement's status, its result's shape and the chunk of rows the answer carried.
type Statement struct {
	ID          string
	State       string          // one of the Statement* states, as Databricks sent it
	Error       *StatementError // set when State is FAILED (and sometimes CANCELED)
	Columns     []Column        // from the manifest; nil until the result is known
	TotalRows   int64           // manifest.total_row_count
	TotalChunks int             // manifest.total_chunk_count
	Truncated   bool            // manifest.truncated: row_limit or byte_limit cut the result
	Chunk       *Chunk          // the rows of the answer (chunk 0 after execute/get), nil when none came
}

// Terminal reports whether the statement will not change any more.
func (s Statement) Terminal() bool {
	switch s.State {
	case StatementSucceeded, StatementFailed, StatementCanceled, StatementClosed:
		return true
	}
	return false
}

// StatementError is status.error plus status.sql_state.
type StatementError struct {
	Code     string // error_code, as Databricks sends it
	Message  string // Databricks' message, e.g. "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: …"
	SQLState string // e.g. 42501
}

// Column is one column of the result schema.
type Column struct {
	Name      string
	Position  int
	TypeName  string // type_name: INT, LONG, DECIMAL, DOUBLE, STRING, BOOLEAN, DATE, TIMESTAMP, ARRAY, MAP, STRUCT, BINARY, …
	TypeText  string // type_text: the SQL type as written, e.g. BIGINT, DECIMAL(10,2), ARRAY<STRING>
	Precision int
	Scale     int
}

// Chunk is one chunk of a JSON_ARRAY result: rows of values, each the string representation
// Databricks sends or nil for NULL.
type Chunk struct {
	Index     int
	RowOffset int64
	RowCount  int64
	Rows      [][]*string
	// NextIndex is the next chunk's index, or -1 when this is the last one.
	NextIndex int
}

// Warehouse is one SQL warehouse the caller can see.
type Warehouse struct {
	ID    string
	Name  string
	State string // RUNNING, STOPPED, STARTING, STOPPING, DELETING, DELETED
}
