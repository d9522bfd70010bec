package fakeworkspace

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The Statement Execution API 2.0 as databricks-sdk-go v0.175.0 calls it (service/sql/impl.go) and as
// its reference describes it (StatementExecutionAPI in service/sql/api.go, the request and response
// types in service/sql/model.go, and docs.databricks.com/api/workspace/statementexecution). Like runs,
// a statement is fully determined by its creation time, its warehouse's start, its sleep marker and an
// optional cancellation: its state is computed from the fake's clock on demand. Its SQL runs on the
// engine when it is submitted; the clock only decides when the outcome shows.

// Paths of the Statement Execution and Warehouses API endpoints the fake implements.
const (
	PathStatements = "/api/2.0/sql/statements" // POST; GET …/{id}; GET …/{id}/result/chunks/{n}; POST …/{id}/cancel
	PathWarehouses = "/api/2.0/sql/warehouses" // GET; GET …/{id}
)

const (
	defaultChunkRows    = 100
	defaultResultTTL    = time.Hour
	defaultWait         = 10 * time.Second // "If no other parameters are specified, the server will wait for up to 10s"
	defaultStartMs      = 2000
	maxStatements       = 10_000 // remembered statements; the oldest are forgotten first
	maxStatementBytes   = 16 << 20
	maxQueryTags        = 20
	waitPoll            = 20 * time.Millisecond
	defaultCatalogName  = "hive_metastore"
	defaultSchemaName   = "default"
	stateSucceeded      = "SUCCEEDED"
	stateFailed         = "FAILED"
	stateCanceled       = "CANCELED"
	stateClosed         = "CLOSED"
	statePending        = "PENDING"
	stateRunning        = "RUNNING"
	warehouseRunning    = "RUNNING"
	warehouseStopped    = "STOPPED"
	warehouseStarting   = "STARTING"
	dispositionInline   = "INLINE"
	formatJSONArray     = "JSON_ARRAY"
	onTimeoutContinue   = "CONTINUE"
	onTimeoutCancel     = "CANCEL"
	statementIDPrefix   = "01f0" // statement ids are UUIDs whose first hex digits are 01e…/01f…
	maxSleepMarkerSecs  = 24 * 3600
	internalLinkPattern = PathStatements + "/%s/result/chunks/%d"
)

// sleepMarker is the fixture's way to make a statement take a while: it stays RUNNING that many
// seconds of the fake's clock.
var sleepMarker = regexp.MustCompile(`/\*\s*devstack:sleep=(\d+(?:\.\d+)?)\s*\*/`)

var warehouseRank = map[string]int{CanView: 1, CanMonitor: 2, CanUse: 3, IsOwner: 4, CanManage: 5}

// sqlSide is the workspace's SQL state. Everything but the engine is guarded by Server.mu.
type sqlSide struct {
	eng            *engine
	warehouses     []*warehouse // fixture order
	whByID         map[string]*warehouse
	chunkRows      int
	ttl            int64 // ms
	defaultCatalog string
	defaultSchema  string

	statements map[string]*statement
	order      []string // statement ids, oldest first
}

type warehouse struct {
	Warehouse
	acl       map[string]int
	stopped   bool  // STOPPED at start-up and not started since
	startedAt int64 // ms, once started
}

// stateAt is the warehouse's state at now (ms).
func (w *warehouse) stateAt(now int64) string {
	switch {
	case w.stopped:
		return warehouseStopped
	case now < w.startedAt+int64(w.StartMs):
		return warehouseStarting
	}
	return warehouseRunning
}

// use starts a stopped warehouse and returns when it runs statements. Called with Server.mu held.
func (w *warehouse) use(now int64) int64 {
	if w.stopped {
		w.stopped, w.startedAt = false, now
	}
	return max(now, w.startedAt+int64(w.StartMs))
}

type statement struct {
	id       string
	owner    string
	wh       *warehouse
	created  int64
	runStart int64 // leaves PENDING
	end      int64 // leaves RUNNING
	canceled bool
	cancelAt int64
	res      *result
	err      *sqlError
	rec      StatementRecord
}

func (st *statement) stateAt(now, ttl int64) string {
	switch {
	case st.canceled && now >= st.cancelAt:
		return stateCanceled
	case now < st.runStart:
		return statePending
	case now < st.end:
		return stateRunning
	case st.err != nil:
		return stateFailed
	case now >= st.end+ttl:
		return stateClosed
	}
	return stateSucceeded
}

func terminalState(s string) bool {
	return s == stateSucceeded || s == stateFailed || s == stateCanceled || s == stateClosed
}

// StatementRecord is what the fake remembers of a statement, for tests (Server.Statements and
// GET /devstack/statements): they check that query tags arrive and that parameter values travel as
// parameters, not inside the text.
type StatementRecord struct {
	ID            string           `json:"statement_id"`
	Principal     string           `json:"principal"`
	WarehouseID   string           `json:"warehouse_id"`
	Statement     string           `json:"statement"`
	Parameters    []StatementParam `json:"parameters"`
	QueryTags     []QueryTag       `json:"query_tags"`
	Catalog       string           `json:"catalog,omitempty"`
	Schema        string           `json:"schema,omitempty"`
	RowLimit      int64            `json:"row_limit,omitempty"`
	ByteLimit     int64            `json:"byte_limit,omitempty"`
	WaitTimeout   string           `json:"wait_timeout,omitempty"`
	OnWaitTimeout string           `json:"on_wait_timeout,omitempty"`
	Created       time.Time        `json:"created"`
	State         string           `json:"state"` // at the time of the snapshot
}

// StatementParam is one statement parameter as sent; a nil Value is SQL NULL.
type StatementParam struct {
	Name  string  `json:"name"`
	Type  string  `json:"type,omitempty"`
	Value *string `json:"value"`
}

// QueryTag is one query_tags entry as sent.
type QueryTag struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func newSQLSide(cfg *SQLConfig) (*sqlSide, error) {
	sq := &sqlSide{whByID: map[string]*warehouse{}, statements: map[string]*statement{},
		chunkRows: defaultChunkRows, ttl: defaultResultTTL.Milliseconds(),
		defaultCatalog: defaultCatalogName, defaultSchema: defaultSchemaName}
	if cfg == nil {
		return sq, nil
	}
	if cfg.ChunkRows < 0 || cfg.ResultTTLMs < 0 {
		return nil, fmt.Errorf("fakeworkspace: sql chunk_rows and result_ttl_ms must be >= 0")
	}
	if cfg.ChunkRows > 0 {
		sq.chunkRows = cfg.ChunkRows
	}
	if cfg.ResultTTLMs > 0 {
		sq.ttl = cfg.ResultTTLMs
	}
	if cfg.DefaultCatalog != "" {
		sq.defaultCatalog = strings.ToLower(cfg.DefaultCatalog)
	}
	if cfg.DefaultSchema != "" {
		sq.defaultSchema = strings.ToLower(cfg.DefaultSchema)
	}
	for _, w := range cfg.Warehouses {
		if w.ID == "" || w.Name == "" {
			return nil, fmt.Errorf("fakeworkspace: a warehouse needs an id and a name, got %+v", w)
		}
		if sq.whByID[w.ID] != nil {
			return nil, fmt.Errorf("fakeworkspace: warehouse id %q is used twice", w.ID)
		}
		ww := &warehouse{Warehouse: w, acl: map[string]int{}}
		switch strings.ToUpper(w.State) {
		case "", warehouseRunning:
		case warehouseStopped:
			ww.stopped = true
		default:
			return nil, fmt.Errorf("fakeworkspace: warehouse %s: state must be RUNNING or STOPPED, got %q", w.ID, w.State)
		}
		if w.StartMs < 0 {
			return nil, fmt.Errorf("fakeworkspace: warehouse %s: start_ms must be >= 0", w.ID)
		}
		if w.StartMs == 0 && ww.stopped {
			ww.StartMs = defaultStartMs
		}
		for p, lvl := range w.ACL {
			r, ok := warehouseRank[strings.ToUpper(lvl)]
			if !ok {
				return nil, fmt.Errorf("fakeworkspace: warehouse %s: ACL level %q for %q is not one of CAN_VIEW, CAN_MONITOR, CAN_USE, IS_OWNER, CAN_MANAGE", w.ID, lvl, p)
			}
			ww.acl[strings.ToLower(p)] = r
		}
		sq.warehouses = append(sq.warehouses, ww)
		sq.whByID[w.ID] = ww
	}
	if len(cfg.Tables) > 0 {
		eng, err := newEngine(cfg)
		if err != nil {
			return nil, err
		}
		sq.eng = eng
	}
	return sq, nil
}

func (w *warehouse) rank(p string) int { return max(w.acl[p], w.acl[AllUsersGroup]) }

// ---- wire shapes (service/sql/model.go: StatementResponse, StatementStatus, ServiceError,
// ResultManifest, ResultSchema, ColumnInfo, BaseChunkInfo, ResultData). Indexes and offsets are always
// sent, 0 included; byte counts are not, as they are "not available when using INLINE disposition". ----

type statementJSON struct {
	StatementID string          `json:"statement_id"`
	Status      statementStatus `json:"status"`
	Manifest    *manifestJSON   `json:"manifest,omitempty"`
	Result      *resultDataJSON `json:"result,omitempty"`
}

type statementStatus struct {
	State    string            `json:"state"`
	Error    *serviceErrorJSON `json:"error,omitempty"`
	SQLState string            `json:"sql_state,omitempty"`
}

type serviceErrorJSON struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

type manifestJSON struct {
	Format          string          `json:"format"`
	Schema          schemaJSON      `json:"schema"`
	TotalChunkCount int             `json:"total_chunk_count"`
	Chunks          []chunkInfoJSON `json:"chunks"`
	TotalRowCount   int64           `json:"total_row_count"`
	Truncated       bool            `json:"truncated"`
}

type schemaJSON struct {
	ColumnCount int          `json:"column_count"`
	Columns     []columnJSON `json:"columns"`
}

type columnJSON struct {
	Name          string `json:"name"`
	Position      int    `json:"position"`
	TypeName      string `json:"type_name"`
	TypeText      string `json:"type_text"`
	TypePrecision *int   `json:"type_precision,omitempty"`
	TypeScale     *int   `json:"type_scale,omitempty"`
}

type chunkInfoJSON struct {
	ChunkIndex int   `json:"chunk_index"`
	RowOffset  int64 `json:"row_offset"`
	RowCount   int64 `json:"row_count"`
}

type resultDataJSON struct {
	ChunkIndex            int         `json:"chunk_index"`
	RowOffset             int64       `json:"row_offset"`
	RowCount              int64       `json:"row_count"`
	DataArray             [][]*string `json:"data_array,omitempty"`
	NextChunkIndex        *int        `json:"next_chunk_index,omitempty"`
	NextChunkInternalLink string      `json:"next_chunk_internal_link,omitempty"`
}

// chunks splits the result: at least one chunk, so that an empty result still has chunk 0.
func (sq *sqlSide) chunks(res *result) []chunkInfoJSON {
	n := len(res.rows)
	out := []chunkInfoJSON{}
	for off := 0; off < n || off == 0; off += sq.chunkRows {
		out = append(out, chunkInfoJSON{ChunkIndex: len(out), RowOffset: int64(off), RowCount: int64(min(sq.chunkRows, n-off))})
		if n == 0 {
			break
		}
	}
	return out
}

func (sq *sqlSide) chunkJSON(st *statement, k int) resultDataJSON {
	cs := sq.chunks(st.res)
	c := cs[k]
	out := resultDataJSON{ChunkIndex: k, RowOffset: c.RowOffset, RowCount: c.RowCount,
		DataArray: st.res.rows[c.RowOffset : c.RowOffset+c.RowCount]}
	if k+1 < len(cs) {
		next := k + 1
		out.NextChunkIndex = &next
		out.NextChunkInternalLink = fmt.Sprintf(internalLinkPattern, st.id, next)
	}
	return out
}

// view is the statement as get-statement (and execute) answers at now: status only until it
// succeeded, then the manifest and chunk 0; FAILED carries the error and SQL state.
func (sq *sqlSide) view(st *statement, now int64) statementJSON {
	state := st.stateAt(now, sq.ttl)
	out := statementJSON{StatementID: st.id, Status: statementStatus{State: state}}
	switch state {
	case stateFailed:
		// FAILED statements carry error_code BAD_REQUEST for errors in the statement itself (the
		// ServiceErrorCode enum of service/sql/model.go has no narrower code for them), the message
		// with the error class, and status.sql_state.
		out.Status.Error = &serviceErrorJSON{ErrorCode: "BAD_REQUEST", Message: st.err.Message}
		out.Status.SQLState = st.err.SQLState
	case stateSucceeded:
		m := &manifestJSON{Format: formatJSONArray, Chunks: sq.chunks(st.res),
			TotalRowCount: int64(len(st.res.rows)), Truncated: st.res.truncated}
		m.TotalChunkCount = len(m.Chunks)
		m.Schema.ColumnCount = len(st.res.names)
		m.Schema.Columns = make([]columnJSON, len(st.res.names))
		for i, name := range st.res.names {
			t := st.res.types[i]
			col := columnJSON{Name: name, Position: i, TypeName: t.Name, TypeText: t.Text}
			if t.Name == "DECIMAL" {
				p, s := t.Precision, t.Scale
				col.TypePrecision, col.TypeScale = &p, &s
			}
			m.Schema.Columns[i] = col
		}
		out.Manifest = m
		r := sq.chunkJSON(st, 0)
		out.Result = &r
	}
	return out
}

// ---- routing ----

// sqlEndpointCounter counts requests to the SQL endpoints, whose paths carry ids.
func (s *Server) sqlEndpointCounter(path string) *int64 {
	switch {
	case path == PathStatements:
		return &s.stats.StatementsExecuted
	case strings.HasPrefix(path, PathStatements+"/"):
		switch rest := strings.Split(strings.TrimPrefix(path, PathStatements+"/"), "/"); {
		case len(rest) == 1:
			return &s.stats.StatementsGet
		case len(rest) == 2 && rest[1] == "cancel":
			return &s.stats.StatementsCanceled
		case len(rest) == 4 && rest[1] == "result" && rest[2] == "chunks":
			return &s.stats.StatementChunks
		}
	case path == PathWarehouses:
		return &s.stats.WarehousesList
	case strings.HasPrefix(path, PathWarehouses+"/") && !strings.Contains(strings.TrimPrefix(path, PathWarehouses+"/"), "/"):
		return &s.stats.WarehousesGet
	}
	return nil
}

// serveSQL routes the SQL endpoints; it reports whether the request was one.
func (s *Server) serveSQL(c *call) bool {
	path, m := c.r.URL.Path, c.r.Method
	switch {
	case path == PathStatements && m == http.MethodPost:
		s.executeStatement(c)
	case path == PathWarehouses && m == http.MethodGet:
		s.listWarehouses(c)
	case strings.HasPrefix(path, PathWarehouses+"/") && m == http.MethodGet:
		id := strings.TrimPrefix(path, PathWarehouses+"/")
		if id == "" || strings.Contains(id, "/") {
			return false
		}
		s.getWarehouse(c, id)
	case strings.HasPrefix(path, PathStatements+"/"):
		rest := strings.Split(strings.TrimPrefix(path, PathStatements+"/"), "/")
		switch {
		case len(rest) == 1 && rest[0] != "" && m == http.MethodGet:
			s.getStatement(c, rest[0])
		case len(rest) == 2 && rest[1] == "cancel" && m == http.MethodPost:
			s.cancelStatement(c, rest[0])
		case len(rest) == 4 && rest[1] == "result" && rest[2] == "chunks" && m == http.MethodGet:
			s.statementChunk(c, rest[0], rest[3])
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// ---- execute ----

type executeRequest struct {
	WarehouseID   string           `json:"warehouse_id"`
	Statement     string           `json:"statement"`
	Parameters    []StatementParam `json:"parameters"`
	Catalog       string           `json:"catalog"`
	Schema        string           `json:"schema"`
	RowLimit      int64            `json:"row_limit"`
	ByteLimit     int64            `json:"byte_limit"`
	Disposition   string           `json:"disposition"`
	Format        string           `json:"format"`
	WaitTimeout   *string          `json:"wait_timeout"`
	OnWaitTimeout string           `json:"on_wait_timeout"`
	QueryTags     []QueryTag       `json:"query_tags"`
}

var waitTimeoutSyntax = regexp.MustCompile(`^(\d+)s$`)
var parameterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (s *Server) executeStatement(c *call) {
	var req executeRequest
	if !c.decodeBody(&req) {
		return
	}
	// Request validation answers 400 INVALID_PARAMETER_VALUE, the error code of a request Databricks
	// refuses before running anything; the messages are the fake's own wording.
	wait := defaultWait
	if req.WaitTimeout != nil {
		m := waitTimeoutSyntax.FindStringSubmatch(*req.WaitTimeout)
		n := -1
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		// "The time in seconds the call will wait for the statement's result set as Ns, where N can be
		// set to 0 or to a value between 5 and 50" (ExecuteStatementRequest.WaitTimeout).
		if n != 0 && (n < 5 || n > 50) {
			c.badRequest("wait_timeout must be 0s or between 5s and 50s, got '%s'.", *req.WaitTimeout)
			return
		}
		wait = time.Duration(n) * time.Second
	}
	onTimeout := strings.ToUpper(req.OnWaitTimeout)
	if onTimeout == "" {
		onTimeout = onTimeoutContinue
	}
	if onTimeout != onTimeoutContinue && onTimeout != onTimeoutCancel {
		c.badRequest("on_wait_timeout must be CONTINUE or CANCEL, got '%s'.", req.OnWaitTimeout)
		return
	}
	disposition, format := strings.ToUpper(req.Disposition), strings.ToUpper(req.Format)
	if disposition == "" {
		disposition = dispositionInline
	}
	if format == "" {
		format = formatJSONArray
	}
	switch {
	case disposition == "EXTERNAL_LINKS":
		// Documented limit of the fake: results never leave the answer.
		c.badRequest("disposition EXTERNAL_LINKS is not supported by the devstack warehouse; use INLINE.")
		return
	case disposition != dispositionInline:
		c.badRequest("disposition must be INLINE or EXTERNAL_LINKS, got '%s'.", req.Disposition)
		return
	case format == "ARROW_STREAM" || format == "CSV":
		// "The formats ARROW_STREAM and CSV are supported only with EXTERNAL_LINKS disposition"
		// (ExecuteStatementRequest.Format).
		c.badRequest("The format %s is supported only with EXTERNAL_LINKS disposition.", format)
		return
	case format != formatJSONArray:
		c.badRequest("format must be JSON_ARRAY, ARROW_STREAM or CSV, got '%s'.", req.Format)
		return
	}
	switch {
	case strings.TrimSpace(req.Statement) == "":
		c.badRequest("statement is required.")
		return
	case len(req.Statement) > maxStatementBytes:
		c.badRequest("The statement exceeds the maximum size of 16 MiB.")
		return
	case req.WarehouseID == "":
		c.badRequest("warehouse_id is required.")
		return
	case req.RowLimit < 0 || req.ByteLimit < 0:
		c.badRequest("row_limit and byte_limit must be >= 0.")
		return
	}
	seen := map[string]bool{}
	for _, p := range req.Parameters {
		if !parameterName.MatchString(p.Name) || seen[strings.ToLower(p.Name)] {
			c.badRequest("Invalid parameter name '%s': names must be unique SQL identifiers.", p.Name)
			return
		}
		seen[strings.ToLower(p.Name)] = true
	}
	for _, t := range req.QueryTags {
		if strings.TrimSpace(t.Key) == "" {
			c.badRequest("query_tags: a query tag needs a non-empty key.")
			return
		}
	}
	caller := strings.ToLower(c.name)

	s.mu.Lock()
	wh := s.sql.whByID[req.WarehouseID]
	var whRank int
	if wh != nil {
		whRank = wh.rank(caller)
	}
	s.mu.Unlock()
	if wh == nil {
		writeAPIError(c.w, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", fmt.Sprintf("SQL warehouse %s does not exist.", req.WarehouseID), nil)
		return
	}
	if whRank < warehouseRank[CanUse] {
		c.denied(fmt.Sprintf("User %s does not have CAN_USE permission on SQL warehouse %s.", c.name, req.WarehouseID))
		return
	}

	// The outcome, decided now; the clock decides when it shows.
	res, serr := s.runSQL(context.WithoutCancel(c.r.Context()), req, caller)
	sleep := time.Duration(0)
	if m := sleepMarker.FindStringSubmatch(req.Statement); m != nil {
		secs, _ := strconv.ParseFloat(m[1], 64)
		sleep = time.Duration(min(secs, maxSleepMarkerSecs) * float64(time.Second))
	}
	u := uuid.NewString()
	id := statementIDPrefix + u[len(statementIDPrefix):]
	tags := req.QueryTags
	if len(tags) > maxQueryTags { // "A sequence in excess of 20 query tags will be coerced to 20"
		tags = tags[:maxQueryTags]
	}

	s.mu.Lock()
	now := s.now()
	created := now.UnixMilli()
	runStart := wh.use(created)
	st := &statement{id: id, owner: caller, wh: wh, created: created, runStart: runStart,
		end: runStart + sleep.Milliseconds(), res: res, err: serr,
		rec: StatementRecord{ID: id, Principal: caller, WarehouseID: wh.ID, Statement: req.Statement,
			Parameters: req.Parameters, QueryTags: tags, Catalog: req.Catalog, Schema: req.Schema,
			RowLimit: req.RowLimit, ByteLimit: req.ByteLimit, OnWaitTimeout: onTimeout, Created: now}}
	if req.WaitTimeout != nil {
		st.rec.WaitTimeout = *req.WaitTimeout
	}
	s.sql.remember(st)
	s.mu.Unlock()

	if wait == 0 {
		// "When set to 0s, the statement will execute in asynchronous mode and the call will not wait
		// for the execution to finish. In this case, the call returns directly with PENDING state and
		// a statement ID" (ExecuteStatementRequest.WaitTimeout).
		writeJSON(c.w, http.StatusOK, statementJSON{StatementID: id, Status: statementStatus{State: statePending}})
		return
	}
	if !s.awaitStatement(c.r.Context(), st, created+wait.Milliseconds(), wait) {
		return // the client went away; nobody is listening
	}
	s.mu.Lock()
	nowMs := s.now().UnixMilli()
	if !terminalState(st.stateAt(nowMs, s.sql.ttl)) && onTimeout == onTimeoutCancel {
		// "When set to CANCEL, the statement execution is canceled and the call returns with a
		// CANCELED state" (ExecuteStatementRequest.OnWaitTimeout).
		st.canceled, st.cancelAt = true, nowMs
	}
	out := s.sql.view(st, nowMs)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}

// awaitStatement waits until st is terminal or the fake's clock reaches deadline (ms), bounded by
// wait of wall-clock time too, so a clock that does not move (a test's) cannot hold the request. It
// polls because an injected clock cannot say when it moves; it reports false if the client went away.
func (s *Server) awaitStatement(ctx context.Context, st *statement, deadline int64, wait time.Duration) bool {
	wallEnd := time.Now().Add(wait)
	for {
		s.mu.Lock()
		now := s.now().UnixMilli()
		done := terminalState(st.stateAt(now, s.sql.ttl)) || now >= deadline
		s.mu.Unlock()
		left := time.Until(wallEnd)
		if done || left <= 0 {
			return true
		}
		if !sleepCtx(ctx, min(waitPoll, left)) {
			return false
		}
	}
}

// remember stores st, forgetting the oldest statements beyond maxStatements. Called with Server.mu held.
func (sq *sqlSide) remember(st *statement) {
	sq.statements[st.id] = st
	sq.order = append(sq.order, st.id)
	for len(sq.order) > maxStatements {
		delete(sq.statements, sq.order[0])
		sq.order = sq.order[1:]
	}
}

// runSQL rewrites, binds and runs the statement on the engine; a *sqlError is the statement's failure.
func (s *Server) runSQL(ctx context.Context, req executeRequest, caller string) (*result, *sqlError) {
	eng := s.sql.eng
	catalog, schema := strings.ToLower(req.Catalog), strings.ToLower(req.Schema)
	if catalog == "" {
		catalog = s.sql.defaultCatalog
	}
	if schema == "" {
		schema = s.sql.defaultSchema
	}
	exists := func(string) bool { return false }
	if eng != nil {
		exists = eng.exists
	}
	text, refs, serr := rewriteSQL(req.Statement, catalog, schema, exists)
	if serr != nil {
		return nil, serr
	}
	params := map[string]any{}
	for _, p := range req.Parameters {
		t, err := parseType(p.Type)
		if err != nil || t.Name == "ARRAY" || t.Name == "MAP" || t.Name == "STRUCT" {
			// "Complex types, such as ARRAY, MAP, and STRUCT are not supported"
			// (StatementParameterListItem.Type).
			return nil, newSQLError("UNSUPPORTED_DATATYPE", "0A000", "Unsupported data type %q.", p.Type)
		}
		if p.Value == nil {
			params[p.Name] = nil // "If omitted, the value is interpreted as NULL"
			continue
		}
		v, err := t.bind(*p.Value)
		if err != nil {
			// Spark's CAST_INVALID_INPUT: "A value is correct if the provided string can be
			// converted to the requested type using the cast function" (ExecuteStatementRequest.Parameters).
			return nil, newSQLError("CAST_INVALID_INPUT", "22018",
				"The value '%s' of the type \"STRING\" cannot be cast to \"%s\" because it is malformed. Correct the value as per the syntax, or change its target type. Use `try_cast` to tolerate malformed input and return NULL instead.",
				*p.Value, t.Text)
		}
		params[p.Name] = v
	}
	if eng == nil {
		return nil, newSQLError("INTERNAL_ERROR", "XX000", "The devstack workspace has no SQL tables.")
	}
	res, err := eng.run(ctx, query{sql: text, tables: refs, params: params, principal: caller,
		rowLimit: req.RowLimit, byteLimit: req.ByteLimit})
	if err != nil {
		if se, ok := err.(*sqlError); ok {
			return nil, se
		}
		return nil, newSQLError("INTERNAL_ERROR", "XX000", "%v", err)
	}
	return res, nil
}

// ---- get, chunk, cancel ----

// lookupStatement finds a statement of the caller. A statement of another principal is answered like
// an unknown one: the fake does not say that it exists. Called with Server.mu held.
func (s *Server) lookupStatement(c *call, id string) *statement {
	st := s.sql.statements[id]
	if st == nil || st.owner != strings.ToLower(c.name) {
		return nil
	}
	return st
}

func writeStatementNotFound(c *call, id string) {
	writeAPIError(c.w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("The statement %s was not found.", id), nil)
}

func (s *Server) getStatement(c *call, id string) {
	s.mu.Lock()
	st := s.lookupStatement(c, id)
	if st == nil {
		s.mu.Unlock()
		writeStatementNotFound(c, id)
		return
	}
	out := s.sql.view(st, s.now().UnixMilli())
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) statementChunk(c *call, id, index string) {
	k, err := strconv.Atoi(index)
	if err != nil || k < 0 {
		c.badRequest("Invalid chunk index '%s'.", index)
		return
	}
	s.mu.Lock()
	st := s.lookupStatement(c, id)
	if st == nil {
		s.mu.Unlock()
		writeStatementNotFound(c, id)
		return
	}
	if st.stateAt(s.now().UnixMilli(), s.sql.ttl) != stateSucceeded {
		s.mu.Unlock()
		// What Databricks answers once a result has expired ("NOT_FOUND: The result of the statement
		// <id> was not found.", databricks/databricks-jdbc#1302); the fake says the same while there
		// is no result yet or there never will be.
		writeAPIError(c.w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("The result of the statement %s was not found.", id), nil)
		return
	}
	n := len(s.sql.chunks(st.res))
	if k >= n {
		s.mu.Unlock()
		c.badRequest("Chunk index %d is out of range: the result has %d chunks.", k, n)
		return
	}
	out := s.sql.chunkJSON(st, k)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) cancelStatement(c *call, id string) {
	s.mu.Lock()
	st := s.lookupStatement(c, id)
	if st == nil {
		s.mu.Unlock()
		writeStatementNotFound(c, id)
		return
	}
	// "Cancel response is empty; receiving response indicates successful receipt" and "an outstanding
	// statement might have already completed execution when the cancel request arrives"
	// (StatementExecutionAPI): a finished statement stays as it is.
	now := s.now().UnixMilli()
	if !terminalState(st.stateAt(now, s.sql.ttl)) {
		st.canceled, st.cancelAt = true, now
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, struct{}{})
}

// Statements returns what the fake remembers of every statement, oldest first.
func (s *Server) Statements() []StatementRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixMilli()
	out := make([]StatementRecord, 0, len(s.sql.order))
	for _, id := range s.sql.order {
		st := s.sql.statements[id]
		r := st.rec
		r.State = st.stateAt(now, s.sql.ttl)
		out = append(out, r)
	}
	return out
}
