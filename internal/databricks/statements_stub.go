package databricks

// STUB (drop at merge): the Statement Execution client is written on another branch. These
// declarations have exactly the shared contract's names and signatures so that the HTTP surface
// compiles and is tested against its own fakes meanwhile; every method fails.

import "context"

// Operation names of the Statement Execution API in [Error.Op].
const (
	OpExecuteStatement = "execute-statement"
	OpGetStatement     = "get-statement"
	OpStatementChunk   = "get-statement-chunk"
	OpCancelStatement  = "cancel-statement"
	OpListWarehouses   = "list-warehouses"
)

var (
	// ErrStatementNotFound: the statement id does not exist (or its result expired).
	ErrStatementNotFound = errStub("statement not found")
	// ErrWarehouseNotFound: the warehouse id of an execute does not exist.
	ErrWarehouseNotFound = errStub("warehouse not found")
)

type errStub string

func (e errStub) Error() string { return string(e) }

func notImplemented(op string) error {
	return &Error{Kind: ErrUpstream, Op: op, Detail: "the Statement Execution client is not merged yet"}
}

func (c *Client) ExecuteStatement(ctx context.Context, r StatementRequest) (Statement, error) {
	return Statement{}, notImplemented(OpExecuteStatement)
}

func (c *Client) GetStatement(ctx context.Context, id string) (Statement, error) {
	return Statement{}, notImplemented(OpGetStatement)
}

func (c *Client) StatementChunk(ctx context.Context, id string, index int) (Chunk, error) {
	return Chunk{}, notImplemented(OpStatementChunk)
}

func (c *Client) CancelStatement(ctx context.Context, id string) error {
	return notImplemented(OpCancelStatement)
}

func (c *Client) ListWarehouses(ctx context.Context) ([]Warehouse, error) {
	return nil, notImplemented(OpListWarehouses)
}
