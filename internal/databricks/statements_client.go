package databricks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/databricks/databricks-sdk-go/service/sql"

	"github.com/flowbricks/flowbricks/internal/redact"
)

// The Statement Execution API calls (docs/architecture.md, Databricks SQL Statement Execution
// API). They go through the same SDK client and frame as the jobs calls (c.dc, c.run: deadline,
// quiet logger, the context's token, one fresh-token retry, classify), send the body of the SDK's
// request type (encoded from wireExecuteRequest, see there), and decode the answers into the wire
// types below, like wire.go: the SDK's
// ResultData.DataArray is [][]string, so a SQL NULL (JSON null) would arrive as "" and could not
// be told from an empty string. Here it stays a nil *string.

const (
	pathStatements = "/api/2.0/sql/statements"
	pathWarehouses = "/api/2.0/sql/warehouses"

	// maxInlineResultBytes is Databricks' limit on an INLINE result (the statement fails above it).
	maxInlineResultBytes = 25 << 20

	// maxWarehousePages bounds the warehouses page loop against a server that keeps answering
	// with a next_page_token.
	maxWarehousePages = 100
)

// MaxQueryTagLength is the longest query tag value Databricks accepts, in characters, with
// backslash, comma and colon counted twice (the key:value,… form escapes them). ExecuteStatement
// cuts longer values; keys may not be longer.
const MaxQueryTagLength = 128

var (
	// statementIDRe: statement ids are opaque to us (Databricks sends UUIDs); anything else
	// could not be one path segment.
	statementIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	// parameterNameRe: a named parameter marker (:name) is an SQL identifier.
	parameterNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// isStatementPath reports whether an answer to path is a statement or result chunk, which
// boundedTransport reads up to maxStatementResponseBytes.
func isStatementPath(path string) bool {
	return path == pathStatements || strings.HasPrefix(path, pathStatements+"/")
}

type wireStatementStatus struct {
	State string `json:"state"`
	Error *struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	} `json:"error"`
	SQLState string `json:"sql_state"`
}

type wireColumn struct {
	Name          string `json:"name"`
	Position      int    `json:"position"`
	TypeName      string `json:"type_name"`
	TypeText      string `json:"type_text"`
	TypePrecision int    `json:"type_precision"`
	TypeScale     int    `json:"type_scale"`
}

type wireManifest struct {
	Schema *struct {
		Columns []wireColumn `json:"columns"`
	} `json:"schema"`
	TotalRowCount   flexInt64 `json:"total_row_count"`
	TotalChunkCount int       `json:"total_chunk_count"`
	Truncated       bool      `json:"truncated"`
}

// wireChunk is a result (ResultData). Zero values are left out by Databricks, so an absent
// chunk_index is 0; an absent next_chunk_index means the last chunk.
type wireChunk struct {
	ChunkIndex     int         `json:"chunk_index"`
	RowOffset      flexInt64   `json:"row_offset"`
	RowCount       flexInt64   `json:"row_count"`
	NextChunkIndex *int        `json:"next_chunk_index"`
	DataArray      [][]*string `json:"data_array"`
}

type wireStatement struct {
	StatementID string               `json:"statement_id"`
	Status      *wireStatementStatus `json:"status"`
	Manifest    *wireManifest        `json:"manifest"`
	Result      *wireChunk           `json:"result"`
}

type wireWarehouses struct {
	Warehouses []struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"warehouses"`
	NextPageToken string `json:"next_page_token"`
}

// ExecuteStatement runs r.Statement on r.WarehouseID as the context's user and returns its status
// (and, when it finished within r.Wait, its columns and first chunk of rows). Disposition INLINE,
// format JSON_ARRAY and on_wait_timeout CONTINUE are always sent. A statement that fails in the
// warehouse is not an error: it comes back with State FAILED and Error set (Databricks answers
// HTTP 200 for it). The request is checked before anything is sent (ErrInvalidRequest).
//
// Databricks has no idempotency token for statements, so this call is never repeated on the
// SDK's behalf: the body is handed to the SDK as a reader it cannot rewind, which stops its
// retries (429, 503, connection reset — after a reset the statement may already run) and returns
// the failure to the caller, who decides. The one repeat is the fresh-token retry of [Client.run]
// after Databricks rejected the token: a rejected token means the request was refused before the
// statement was accepted, so repeating it cannot run the statement twice.
func (c *Client) ExecuteStatement(ctx context.Context, r StatementRequest) (Statement, error) {
	req, err := executeRequest(r)
	if err != nil {
		return Statement{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Statement{}, invalid(OpExecuteStatement, "cannot encode the request: "+err.Error())
	}
	headers := map[string]string{"Accept": "application/json", "Content-Type": "application/json"}
	// A reader of unknown length would go out chunked; the length is known.
	contentLength := func(r *http.Request) error { r.ContentLength = int64(len(body)); return nil }
	var st Statement
	// Databricks holds the answer for up to the wait on purpose: the deadline grows by it.
	err = c.runFor(ctx, OpExecuteStatement, c.requestTimeout+r.Wait.Round(time.Second), func(ctx context.Context) error {
		var w wireStatement
		if err := c.dc.Do(ctx, http.MethodPost, pathStatements, headers, nil, onceReader{bytes.NewReader(body)}, &w, contentLength); err != nil {
			return err
		}
		if w.StatementID == "" {
			return &Error{Kind: ErrUpstream, Op: OpExecuteStatement, Detail: "execute-statement answered without a statement_id"}
		}
		st, err = mapStatement(ctx, OpExecuteStatement, &w)
		return err
	})
	if err != nil {
		return Statement{}, err
	}
	return st, nil
}

// onceReader hides the Seek of its reader: the SDK rewinds (and so repeats) only a request
// body it can seek.
type onceReader struct{ r io.Reader }

func (o onceReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// GetStatement returns the statement's status and, once it SUCCEEDED, its columns and the first
// chunk of rows. Statements are removed at least 12 hours after they ended: ErrStatementNotFound.
func (c *Client) GetStatement(ctx context.Context, id string) (Statement, error) {
	if err := checkStatementID(OpGetStatement, id); err != nil {
		return Statement{}, err
	}
	var st Statement
	err := c.run(ctx, OpGetStatement, func(ctx context.Context) error {
		var w wireStatement
		if err := c.getJSON(ctx, pathStatements+"/"+url.PathEscape(id), sql.GetStatementRequest{StatementId: id}, &w); err != nil {
			return err
		}
		if w.StatementID == "" {
			w.StatementID = id
		}
		var err error
		st, err = mapStatement(ctx, OpGetStatement, &w)
		return err
	})
	if err != nil {
		return Statement{}, err
	}
	return st, nil
}

// StatementChunk returns chunk index of a SUCCEEDED statement's result (chunk 0 also comes with
// GetStatement). Rows is never nil; NextIndex is -1 on the last chunk.
func (c *Client) StatementChunk(ctx context.Context, id string, index int) (Chunk, error) {
	if err := checkStatementID(OpStatementChunk, id); err != nil {
		return Chunk{}, err
	}
	if index < 0 {
		return Chunk{}, invalid(OpStatementChunk, fmt.Sprintf("chunk_index must be 0 or more, got %d", index))
	}
	path := pathStatements + "/" + url.PathEscape(id) + "/result/chunks/" + strconv.Itoa(index)
	var ch Chunk
	err := c.run(ctx, OpStatementChunk, func(ctx context.Context) error {
		var w wireChunk
		if err := c.getJSON(ctx, path, sql.GetStatementResultChunkNRequest{StatementId: id, ChunkIndex: index}, &w); err != nil {
			return err
		}
		ch = mapChunk(&w)
		return nil
	})
	if err != nil {
		return Chunk{}, err
	}
	return ch, nil
}

// CancelStatement asks Databricks to cancel a statement. Cancellation is asynchronous and may
// silently not happen (the statement may finish first); Databricks answers a cancel of a finished
// statement like any other, so read the statement to learn how it ended.
func (c *Client) CancelStatement(ctx context.Context, id string) error {
	if err := checkStatementID(OpCancelStatement, id); err != nil {
		return err
	}
	path := pathStatements + "/" + url.PathEscape(id) + "/cancel"
	headers := map[string]string{"Content-Type": "application/json"}
	return c.run(ctx, OpCancelStatement, func(ctx context.Context) error {
		return c.dc.Do(ctx, http.MethodPost, path, headers, nil, sql.CancelExecutionRequest{StatementId: id}, nil)
	})
}

// ListWarehouses returns every SQL warehouse the caller can see (id, name, state), following
// next_page_token within one deadline. The result is never nil.
func (c *Client) ListWarehouses(ctx context.Context) ([]Warehouse, error) {
	var out []Warehouse
	err := c.run(ctx, OpListWarehouses, func(ctx context.Context) error {
		// A retry with a fresh token starts the listing again.
		out = []Warehouse{}
		token := ""
		for pages := 0; ; pages++ {
			if pages >= maxWarehousePages {
				return &Error{Kind: ErrUpstream, Op: OpListWarehouses,
					Detail: fmt.Sprintf("warehouses still had a next_page_token after %d pages", maxWarehousePages)}
			}
			var page wireWarehouses
			if err := c.getJSON(ctx, pathWarehouses, sql.ListWarehousesRequest{PageToken: token}, &page); err != nil {
				return err
			}
			for _, w := range page.Warehouses {
				out = append(out, Warehouse{ID: w.ID, Name: w.Name, State: w.State})
			}
			if page.NextPageToken == "" {
				return nil
			}
			token = page.NextPageToken
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ValidStatementID reports whether id can be a statement id: the HTTP surface checks a path's id
// with it before anything is sent, so both refuse the same ids.
func ValidStatementID(id string) bool { return statementIDRe.MatchString(id) }

func checkStatementID(op, id string) error {
	if !ValidStatementID(id) {
		return invalid(op, "statement_id must be 1-128 letters, digits, '-' or '_'")
	}
	return nil
}

// wireExecuteRequest is the body of execute-statement: the fields of the SDK's
// sql.ExecuteStatementRequest that flowbricks sends, with the same JSON names and omission rules
// (TestExecuteRequestEncodesLikeTheSDK compares the two). It is encoded with encoding/json
// rather than through the SDK's type, whose MarshalJSON builds a map by reflection: 40-65 µs and
// 87 allocations per statement, about a tenth of the handler's CPU for a small statement
// (docs/performance.md, What the handler spends a SQL statement on).
type wireExecuteRequest struct {
	WarehouseID   string          `json:"warehouse_id"`
	Statement     string          `json:"statement"`
	Parameters    []wireParameter `json:"parameters,omitempty"`
	Catalog       string          `json:"catalog,omitempty"`
	Schema        string          `json:"schema,omitempty"`
	RowLimit      int64           `json:"row_limit,omitempty"`
	ByteLimit     int64           `json:"byte_limit,omitempty"`
	Disposition   string          `json:"disposition"`
	Format        string          `json:"format"`
	WaitTimeout   string          `json:"wait_timeout"`
	OnWaitTimeout string          `json:"on_wait_timeout"`
	QueryTags     []wireQueryTag  `json:"query_tags,omitempty"`
}

// wireParameter is sql.StatementParameterListItem: a nil Value is sent without "value" (NULL), an
// empty one as "value": "" (the SDK needs ForceSendFields for that).
type wireParameter struct {
	Name  string  `json:"name"`
	Type  string  `json:"type,omitempty"`
	Value *string `json:"value,omitempty"`
}

// wireQueryTag is sql.QueryTag: an empty value is a key-only tag.
type wireQueryTag struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// executeRequest checks r and builds the body of execute-statement from it.
func executeRequest(r StatementRequest) (wireExecuteRequest, error) {
	bad := func(detail string) (wireExecuteRequest, error) {
		return wireExecuteRequest{}, invalid(OpExecuteStatement, detail)
	}
	switch {
	case strings.TrimSpace(r.WarehouseID) == "":
		return bad("warehouse_id is empty")
	case strings.TrimSpace(r.Statement) == "":
		return bad("statement is empty")
	case len(r.Statement) > MaxStatementBytes:
		return bad(fmt.Sprintf("statement has %d bytes; Databricks accepts at most %d", len(r.Statement), MaxStatementBytes))
	case r.RowLimit < 0:
		return bad(fmt.Sprintf("row_limit must be 0 (none) or more, got %d", r.RowLimit))
	case r.ByteLimit < 0:
		return bad(fmt.Sprintf("byte_limit must be 0 (Databricks' default) or more, got %d", r.ByteLimit))
	}
	wait, err := waitTimeout(r.Wait)
	if err != nil {
		return bad(err.Error())
	}
	params, err := statementParameters(r.Parameters)
	if err != nil {
		return bad(err.Error())
	}
	tags, err := queryTags(r.QueryTags)
	if err != nil {
		return bad(err.Error())
	}
	return wireExecuteRequest{
		WarehouseID:   r.WarehouseID,
		Statement:     r.Statement,
		Parameters:    params,
		Catalog:       r.Catalog,
		Schema:        r.Schema,
		RowLimit:      r.RowLimit,
		ByteLimit:     r.ByteLimit,
		Disposition:   string(sql.DispositionInline),
		Format:        string(sql.FormatJsonArray),
		WaitTimeout:   wait,
		OnWaitTimeout: string(sql.ExecuteStatementRequestOnWaitTimeoutContinue),
		QueryTags:     tags,
	}, nil
}

// waitTimeout turns the wait into wait_timeout: "0s", or 5-50 whole seconds.
func waitTimeout(d time.Duration) (string, error) {
	s := d.Round(time.Second)
	if s == 0 && d >= 0 {
		return "0s", nil
	}
	if s < MinStatementWait || s > MaxStatementWait {
		return "", fmt.Errorf("wait must be 0 or %v-%v, got %v", MinStatementWait, MaxStatementWait, d)
	}
	return strconv.Itoa(int(s/time.Second)) + "s", nil
}

// statementParameters sends a nil Value as no "value" (NULL) and an empty one as "value": "".
func statementParameters(ps []StatementParameter) ([]wireParameter, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	out := make([]wireParameter, 0, len(ps))
	seen := make(map[string]bool, len(ps))
	for _, p := range ps {
		if !parameterNameRe.MatchString(p.Name) {
			return nil, fmt.Errorf("parameter name %q is not an SQL identifier ([A-Za-z_][A-Za-z0-9_]*)", p.Name)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("parameter %q is given twice", p.Name)
		}
		seen[p.Name] = true
		out = append(out, wireParameter{Name: p.Name, Type: p.Type, Value: p.Value})
	}
	return out, nil
}

// queryTags checks the keys (flowbricks' own constants: a bad one is a bug) and makes the values
// acceptable (docs/architecture.md, Databricks SQL Statement Execution API): control characters
// and invalid UTF-8 are dropped, surrounding white space trimmed (Databricks would trim it), and
// a value cut to MaxQueryTagLength. An empty value is sent without "value", a key-only tag.
func queryTags(tags []QueryTag) ([]wireQueryTag, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	if len(tags) > MaxQueryTags {
		return nil, fmt.Errorf("%d query tags; Databricks keeps at most %d", len(tags), MaxQueryTags)
	}
	out := make([]wireQueryTag, 0, len(tags))
	for _, t := range tags {
		switch {
		case strings.TrimSpace(t.Key) == "":
			return nil, fmt.Errorf("a query tag has an empty key")
		case t.Key != cleanTagText(t.Key) || tagLength(t.Key) > MaxQueryTagLength:
			return nil, fmt.Errorf("query tag key %q has control characters, surrounding spaces or more than %d characters", t.Key, MaxQueryTagLength)
		}
		out = append(out, wireQueryTag{Key: t.Key, Value: cutTagValue(cleanTagText(t.Value))})
	}
	return out, nil
}

func cleanTagText(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// tagWeight is what one character costs of MaxQueryTagLength: the characters the key:value form
// escapes with a backslash count twice.
func tagWeight(r rune) int {
	if r == '\\' || r == ',' || r == ':' {
		return 2
	}
	return 1
}

func tagLength(s string) int {
	n := 0
	for _, r := range s {
		n += tagWeight(r)
	}
	return n
}

// cutTagValue keeps the longest prefix of s within MaxQueryTagLength, on a character boundary.
func cutTagValue(s string) string {
	n := 0
	for i, r := range s {
		if n+tagWeight(r) > MaxQueryTagLength {
			return strings.TrimSpace(s[:i])
		}
		n += tagWeight(r)
	}
	return s
}

// mapStatement turns a statement answer into a Statement; Databricks' error message passes
// redact.Secrets with the attempt's token like every other upstream text.
func mapStatement(ctx context.Context, op string, w *wireStatement) (Statement, error) {
	if w.Status == nil || w.Status.State == "" {
		return Statement{}, &Error{Kind: ErrUpstream, Op: op, Detail: "the statement answer has no status.state"}
	}
	st := Statement{ID: w.StatementID, State: w.Status.State}
	if e := w.Status.Error; e != nil || w.Status.SQLState != "" {
		se := &StatementError{SQLState: w.Status.SQLState}
		if e != nil {
			se.Code = e.ErrorCode
			se.Message = redact.Secrets(e.Message, tokenFrom(ctx).Reveal())
		}
		st.Error = se
	}
	if m := w.Manifest; m != nil {
		st.TotalRows = int64(m.TotalRowCount)
		st.TotalChunks = m.TotalChunkCount
		st.Truncated = m.Truncated
		st.Columns = []Column{}
		if m.Schema != nil {
			for _, col := range m.Schema.Columns {
				st.Columns = append(st.Columns, Column{
					Name: col.Name, Position: col.Position, TypeName: col.TypeName, TypeText: col.TypeText,
					Precision: col.TypePrecision, Scale: col.TypeScale,
				})
			}
			slices.SortStableFunc(st.Columns, func(a, b Column) int { return a.Position - b.Position })
		}
	}
	switch {
	case w.Result != nil:
		ch := mapChunk(w.Result)
		st.Chunk = &ch
	case st.State == StatementSucceeded:
		// A statement that returned no rows may come without a result: it is an empty first chunk.
		st.Chunk = &Chunk{Rows: [][]*string{}, NextIndex: -1}
	}
	return st, nil
}

func mapChunk(w *wireChunk) Chunk {
	ch := Chunk{
		Index:     w.ChunkIndex,
		RowOffset: int64(w.RowOffset),
		RowCount:  int64(w.RowCount),
		Rows:      w.DataArray,
		NextIndex: -1,
	}
	if ch.Rows == nil {
		ch.Rows = [][]*string{}
	}
	if ch.RowCount == 0 {
		ch.RowCount = int64(len(ch.Rows))
	}
	if w.NextChunkIndex != nil {
		ch.NextIndex = *w.NextChunkIndex
	}
	return ch
}
