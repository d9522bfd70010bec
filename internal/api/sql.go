package api

// The SQL endpoints: run a statement on a SQL warehouse with the signed-in user's own Databricks
// token, so Unity Catalog's grants, row filters and column masks decide what the flow sees
// (docs/sql.md). They follow the job endpoints' conventions: problem answers, ?workspace=, and
// the 202 pattern with ?wait=true.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog/hlog"

	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
	"github.com/flowbricks/flowbricks/internal/redact"
)

// sqlStatement is the answer of the statement endpoints: the status, the result's columns and
// one chunk of rows (docs/sql.md, The answer). Arrays are never null.
type sqlStatement struct {
	StatementID   string            `json:"statement_id" summary:"Statement ID" visibility:"important" doc:"The statement's id: give it to \"Get statement status and rows\" or \"Cancel a statement\"."`
	State         string            `json:"state" summary:"State" visibility:"important" doc:"PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED or CLOSED."`
	Terminal      bool              `json:"terminal" summary:"Is Over" doc:"True once the statement will not change any more (SUCCEEDED, FAILED, CANCELED, CLOSED)."`
	Succeeded     bool              `json:"succeeded" summary:"Succeeded" visibility:"important" doc:"True when the statement succeeded."`
	StatementName string            `json:"statement_name,omitempty" summary:"Statement Name" doc:"The administrator-defined statement that ran (only for statement_name requests)."`
	Columns       []sqlColumn       `json:"columns" summary:"Columns" doc:"The result's columns, in order; empty until the result is known."`
	Rows          []json.RawMessage `json:"rows" summary:"Rows" visibility:"important" doc:"The rows of this chunk, each an object keyed by column (columns' key): numbers, true/false, strings (DECIMAL, DATE, TIMESTAMP, BIGINT beyond 2^53), parsed ARRAY/MAP/STRUCT values, or null."`
	RowCount      int64             `json:"row_count" summary:"Row Count" doc:"The number of rows in this answer."`
	RowOffset     int64             `json:"row_offset" summary:"Row Offset" doc:"The position of this answer's first row in the whole result."`
	ChunkIndex    int               `json:"chunk_index" summary:"Chunk Index" doc:"Which chunk of the result this answer carries (from 0)."`
	ChunkCount    int               `json:"chunk_count" summary:"Chunk Count" doc:"How many chunks the result has."`
	TotalRowCount int64             `json:"total_row_count" summary:"Total Row Count" visibility:"important" doc:"The number of rows in the whole result."`
	Truncated     bool              `json:"truncated" summary:"Truncated" doc:"True when row_limit or byte_limit cut the result."`
	Next          string            `json:"next,omitempty" summary:"Next Page URL" doc:"The URL of the next chunk's rows (GET, the same connection); absent on the last chunk."`
	Error         *sqlError         `json:"error,omitempty"` // titled and described by its definition (openapi_docs.go)
}

// sqlError is Databricks' error of a failed statement.
type sqlError struct {
	Code     string `json:"code" summary:"Error Code" doc:"Databricks' error code, for example BAD_REQUEST (a statement Unity Catalog refused: test sql_state 42501 or the message's [INSUFFICIENT_PERMISSIONS])."`
	Message  string `json:"message" summary:"Error Message" doc:"Databricks' message, for example [INSUFFICIENT_PERMISSIONS] Insufficient privileges followed by what is missing."`
	SQLState string `json:"sql_state,omitempty" summary:"SQL State" doc:"The SQLSTATE of the error, for example 42501."`
}

// failedStatement is the 424 body of a statement that ended without success in wait mode, like
// failedRun for runs.
type failedStatement struct {
	sqlStatement
	failure
}

// warehouseSummary is one entry of ListWarehouses.
type warehouseSummary struct {
	ID    string `json:"id" doc:"The SQL warehouse's id."`
	Name  string `json:"name" doc:"The SQL warehouse's name."`
	State string `json:"state" doc:"RUNNING, STOPPED, STARTING, STOPPING, DELETING or DELETED; a stopped warehouse starts when a statement arrives."`
}

// statementWait is how long RunStatement lets Databricks wait for a result (wait_timeout, with
// on_wait_timeout CONTINUE) before it answers with the statement's state: long enough for the
// small queries flows mostly run to answer with rows at once, far inside the 120 s after which
// Logic Apps and Power Automate give up on a call.
const statementWait = 10 * time.Second

// sqlOnly guards the SQL endpoints: FLOWBRICKS_SQL=off closes them, and they act for users only
// (an app-only caller reaches Databricks as flowbricks' own principal, whose grants are not the
// person's; docs/sql.md, What governs access).
func (s *server) sqlOnly(next problemHandler) problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.Config.SQL == config.SQLOff {
			return newProblem(http.StatusForbidden, "sql_disabled",
				"SQL statements are turned off on this flowbricks (FLOWBRICKS_SQL=off); an administrator can turn them on.")
		}
		if principalFrom(r.Context()).Kind == entra.App {
			return newProblem(http.StatusForbidden, "user_required",
				"SQL statements run with the signed-in user's own Unity Catalog grants; an app-only caller has no user. "+
					"Use a connection that signs in a user (OAuth), not a managed identity or client credentials.")
		}
		return next(w, r)
	}
}

// statementOptions are the query parameters of the statement endpoints' 202 pattern.
type statementOptions struct {
	wait          bool // answer 202 + Location until the statement is over
	failOnFailure bool // a statement that ended without success answers 424 (default) instead of 200
}

func parseStatementOptions(r *http.Request) (statementOptions, error) {
	var o statementOptions
	var err error
	if o.wait, err = boolQuery(r, "wait", false); err != nil {
		return o, err
	}
	o.failOnFailure, err = boolQuery(r, "fail_on_failure", true)
	return o, err
}

// statementPlan is a RunStatement request resolved against the configuration: what Databricks
// will be sent, except the warehouse, and what names it.
type statementPlan struct {
	upstream      databricks.StatementRequest
	name          string // the named statement, "" for free SQL
	warehouseID   string // from the request, else the named statement's
	warehouseName string
}

func (s *server) handleRunStatement() problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[sqlStatementRequest](r)
		if err != nil {
			return err
		}
		opts, err := parseStatementOptions(r)
		if err != nil {
			return err
		}
		plan, err := s.planStatement(req)
		if err != nil {
			return err
		}
		ws, err := s.workspace(r)
		if err != nil {
			return err
		}
		if plan.upstream.WarehouseID, err = s.resolveWarehouse(r, ws, plan); err != nil {
			return err
		}
		plan.upstream.QueryTags = queryTags(r, plan.name)
		key, err := statementKey(r, plan)
		if err != nil {
			return err
		}

		st, replayed, err := s.executeOnce(r, ws, key.token, plan.upstream)
		if err != nil {
			return err
		}
		ev := s.auditCaller(r, "sql-execute").Str("workspace", workspaceName(r)).
			Str("warehouse_id", plan.upstream.WarehouseID).Str("statement_id", st.ID)
		if plan.name != "" {
			ev = ev.Str("statement_name", plan.name)
		} else {
			ev = ev.Str("statement_sha256", statementDigest(plan.upstream.Statement))
		}
		if key.label != "" {
			ev = ev.Str("idempotency_key", key.label)
		}
		ev.Bool("replayed", replayed).Msg("statement executed")

		answer := s.statementAnswer(r, st, st.Chunk, 0)
		answer.StatementName = plan.name
		poll, err := s.pathOf("GetStatement", map[string]string{"statement_id": st.ID})
		if err != nil {
			return fmt.Errorf("statement %s was started, but its Location cannot be built: %w", st.ID, err)
		}
		q := url.Values{"wait": {"true"}}
		for _, name := range []string{"fail_on_failure", "workspace"} {
			if v := r.URL.Query().Get(name); v != "" {
				q.Set(name, v)
			}
		}
		s.answerStatement(w, r, opts, answer, poll+"?"+q.Encode())
		return nil
	}
}

// planStatement applies FLOWBRICKS_SQL and the named statements, the result bounds and the wait
// to a decoded request.
func (s *server) planStatement(req sqlStatementRequest) (statementPlan, error) {
	plan := statementPlan{warehouseID: req.WarehouseID, warehouseName: req.WarehouseName}
	u := &plan.upstream
	u.Catalog, u.Schema, u.Wait = req.Catalog, req.Schema, s.statementWait()

	if req.Statement != "" {
		if s.Config.SQL == config.SQLNamed {
			return plan, newProblem(http.StatusForbidden, "free_sql_not_allowed",
				"This flowbricks runs only the statements an administrator defined (FLOWBRICKS_SQL=named): send statement_name instead of statement.")
		}
		u.Statement = req.Statement
		for _, p := range req.Parameters {
			typ := ""
			if strings.TrimSpace(p.Type) != "" {
				typ, _ = config.SQLTypeName(p.Type) // validated by decode
			}
			value, _ := parameterValue(p.Value)
			u.Parameters = append(u.Parameters, databricks.StatementParameter{Name: p.Name, Type: typ, Value: value})
		}
	} else {
		def, ok := s.Config.SQLStatements[req.StatementName]
		if !ok {
			return plan, newProblem(http.StatusNotFound, "statement_name_not_found",
				fmt.Sprintf("No statement named %q is defined; an administrator defines them in FLOWBRICKS_SQL_STATEMENTS (names are case-sensitive).", redact.Value(req.StatementName)))
		}
		params, err := namedParameters(req.StatementName, def, req.Parameters)
		if err != nil {
			return plan, err
		}
		plan.name, u.Statement, u.Parameters = req.StatementName, def.Statement, params
		if plan.warehouseID == "" && plan.warehouseName == "" {
			plan.warehouseID = def.WarehouseID
		}
	}
	if plan.warehouseID == "" && plan.warehouseName == "" {
		return plan, invalidRequest("Field warehouse_id (or warehouse_name) is required.")
	}

	u.RowLimit, u.ByteLimit = s.Config.SQLMaxRows, s.Config.SQLMaxBytes
	if req.RowLimit != nil {
		if *req.RowLimit > s.Config.SQLMaxRows {
			return plan, invalidRequest("Field row_limit must be an integer from 1 to %d (FLOWBRICKS_SQL_MAX_ROWS).", s.Config.SQLMaxRows)
		}
		u.RowLimit = *req.RowLimit
	}
	if req.ByteLimit != nil {
		if *req.ByteLimit > s.Config.SQLMaxBytes {
			return plan, invalidRequest("Field byte_limit must be an integer from 1 to %d (FLOWBRICKS_SQL_MAX_BYTES).", s.Config.SQLMaxBytes)
		}
		u.ByteLimit = *req.ByteLimit
	}
	return plan, nil
}

// namedParameters checks a request's parameters against a named statement's declaration: exactly
// the declared names, each with the declared type (a request may repeat it, not change it).
func namedParameters(name string, def config.NamedStatement, given []sqlParameter) ([]databricks.StatementParameter, error) {
	declared := make([]string, 0, len(def.Parameters))
	for p := range def.Parameters {
		declared = append(declared, p)
	}
	slices.Sort(declared)
	takes := "it takes no parameters"
	if len(declared) > 0 {
		takes = "it takes " + strings.Join(declared, ", ")
	}
	out := make([]databricks.StatementParameter, 0, len(given))
	for _, p := range given {
		typ, ok := def.Parameters[p.Name]
		if !ok {
			return nil, invalidRequest("Parameter %s is not a parameter of statement %s (%s).", p.Name, name, takes)
		}
		if strings.TrimSpace(p.Type) != "" {
			if asked, _ := config.SQLTypeName(p.Type); asked != typ {
				return nil, invalidRequest("Parameter %s of statement %s is a %s; send no type or %s, not %q.", p.Name, name, typ, typ, redact.Value(p.Type))
			}
		}
		value, _ := parameterValue(p.Value)
		out = append(out, databricks.StatementParameter{Name: p.Name, Type: typ, Value: value})
	}
	for _, p := range declared {
		if !slices.ContainsFunc(out, func(g databricks.StatementParameter) bool { return g.Name == p }) {
			return nil, invalidRequest("Statement %s needs parameter %s (%s); %s.", name, p, def.Parameters[p], takes)
		}
	}
	return out, nil
}

// statementWait is statementWait, shortened to leave the upstream timeout 5 s for the answer to
// travel; below Databricks' minimum wait the statement is answered at once (wait_timeout 0).
func (s *server) statementWait() time.Duration {
	wait := statementWait
	if t := s.Config.UpstreamTimeout; t > 0 {
		wait = min(wait, t-5*time.Second)
	}
	if wait < databricks.MinStatementWait {
		return 0
	}
	return wait
}

// resolveWarehouse returns the warehouse id a statement runs on: the one given (or the named
// statement's), checked against FLOWBRICKS_WAREHOUSES, or the one visible warehouse whose name
// matches exactly, ignoring case, like job_name.
func (s *server) resolveWarehouse(r *http.Request, ws SQL, plan statementPlan) (string, error) {
	if plan.warehouseID != "" {
		return plan.warehouseID, s.allowWarehouse(plan.warehouseID)
	}
	found, err := ws.ListWarehouses(r.Context())
	if err != nil {
		return "", err
	}
	var ids []string
	for _, wh := range found {
		if strings.EqualFold(wh.Name, plan.warehouseName) && s.allowWarehouse(wh.ID) == nil {
			ids = append(ids, wh.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", newProblem(http.StatusNotFound, "warehouse_not_found",
			fmt.Sprintf("No SQL warehouse named %q is visible to the caller (names match exactly, ignoring case).", redact.Value(plan.warehouseName)))
	case 1:
		return ids[0], nil
	}
	return "", newProblem(http.StatusConflict, "ambiguous_warehouse_name",
		fmt.Sprintf("%d SQL warehouses are named %q (ids %s); send warehouse_id instead.", len(ids), redact.Value(plan.warehouseName), strings.Join(ids, ", ")))
}

// allowWarehouse applies the optional warehouse allow-list (FLOWBRICKS_WAREHOUSES).
func (s *server) allowWarehouse(id string) error {
	if len(s.Config.Warehouses) == 0 || slices.Contains(s.Config.Warehouses, id) {
		return nil
	}
	return newProblem(http.StatusForbidden, "warehouse_not_allowed",
		fmt.Sprintf("SQL warehouse %s is not exposed through flowbricks; an administrator lists allowed warehouses in FLOWBRICKS_WAREHOUSES.", id))
}

// Query tag keys: admins find flow-started statements in query history by them.
const (
	tagFlowbricks  = "flowbricks"
	tagWorkflowRun = "flowbricks_workflow_run"
	tagAction      = "flowbricks_action"
	tagStatement   = "flowbricks_statement"
)

// queryTags tags a statement with flowbricks, the flow's run and action when the platform sent
// them, and the named statement. The workflow headers are the caller's to choose, so they pass
// redact like everything else that leaves a request (query history is another log).
func queryTags(r *http.Request, name string) []databricks.QueryTag {
	tags := []databricks.QueryTag{{Key: tagFlowbricks}}
	if v := r.Header.Get(headerWorkflowRunID); v != "" {
		tags = append(tags, databricks.QueryTag{Key: tagWorkflowRun, Value: redact.Value(v)})
	}
	if v := r.Header.Get(headerWorkflowOperation); v != "" {
		tags = append(tags, databricks.QueryTag{Key: tagAction, Value: redact.Value(v)})
	}
	if name != "" {
		tags = append(tags, databricks.QueryTag{Key: tagStatement, Value: name})
	}
	return tags
}

// statementKey derives the retry memory's key (docs/sql.md, Retries) from the caller, the
// workspace, the warehouse and the request as Databricks receives it, and what ties one action's
// retries together (retryKeyFor).
func statementKey(r *http.Request, plan statementPlan) (retryKey, error) {
	u := plan.upstream
	canonical, _ := json.Marshal(struct { // struct fields in order: deterministic
		Statement, Name     string
		Parameters          []databricks.StatementParameter
		Catalog, Schema     string
		RowLimit, ByteLimit int64
	}{u.Statement, plan.name, u.Parameters, u.Catalog, u.Schema, u.RowLimit, u.ByteLimit})
	return retryKeyFor(r, "sq", workspaceName(r), u.WarehouseID, string(canonical))
}

// executeOnce executes a statement, unless the retry memory knows the key: then it reads the
// statement the first request started, and replayed is true. Requests with one key that arrive
// together execute once; the others wait for the first within their own deadline.
func (s *server) executeOnce(r *http.Request, ws SQL, key string, req databricks.StatementRequest) (st databricks.Statement, replayed bool, err error) {
	ctx := r.Context()
	if key == "" {
		st, err = ws.ExecuteStatement(ctx, req)
		return st, false, err
	}
	id, finish, err := s.statements.claim(ctx, key)
	if err != nil {
		return st, false, requestInProgress(err)
	}
	if id != "" {
		hlog.FromRequest(r).Info().Str("statement_id", id).Msg("a retried request: answering from the statement it started")
		st, err = ws.GetStatement(ctx, id)
		return st, true, err
	}
	started := ""
	defer func() { finish(started) }() // also when ExecuteStatement panics: the key must not stay in flight
	st, err = ws.ExecuteStatement(ctx, req)
	if err == nil {
		started = st.ID
	}
	return st, false, err
}

// statementDigest names a statement's text in the audit line without quoting it: the first 16 hex
// digits of its SHA-256.
func statementDigest(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])[:16]
}

func (s *server) handleGetStatement() problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := statementIDParam(r)
		if err != nil {
			return err
		}
		opts, err := parseStatementOptions(r)
		if err != nil {
			return err
		}
		index, err := chunkIndexParam(r)
		if err != nil {
			return err
		}
		ws, err := s.workspace(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		st, err := ws.GetStatement(ctx, id)
		if err != nil {
			return err
		}
		chunk := st.Chunk
		if chunk != nil && chunk.Index != index {
			chunk = nil
		}
		if st.State == databricks.StatementSucceeded {
			if index > 0 && index >= st.TotalChunks {
				return invalidRequest("Query parameter chunk_index is %d, but the result has %d chunks (0 to %d).", index, st.TotalChunks, max(st.TotalChunks-1, 0))
			}
			if chunk == nil && index < st.TotalChunks {
				c, err := ws.StatementChunk(ctx, id, index)
				if err != nil {
					return err
				}
				chunk = &c
			}
		}
		s.answerStatement(w, r, opts, s.statementAnswer(r, st, chunk, index), r.URL.RequestURI())
		return nil
	}
}

func (s *server) handleCancelStatement() problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := statementIDParam(r)
		if err != nil {
			return err
		}
		ws, err := s.workspace(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		// Get and cancel are not filtered by FLOWBRICKS_WAREHOUSES: Databricks' statement status
		// does not name the warehouse (docs/sql.md, Limits). Databricks itself only lets the
		// statement's owner (or an admin) see or cancel it.
		if err := ws.CancelStatement(ctx, id); err != nil {
			return err
		}
		s.auditCaller(r, "sql-cancel").Str("workspace", workspaceName(r)).Str("statement_id", id).Msg("statement cancel requested")
		st, err := ws.GetStatement(ctx, id)
		if err != nil {
			return err
		}
		respond(w, r, http.StatusOK, s.statementAnswer(r, st, st.Chunk, 0))
		return nil
	}
}

func (s *server) handleListWarehouses() problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		ws, err := s.workspace(r)
		if err != nil {
			return err
		}
		found, err := ws.ListWarehouses(r.Context())
		if err != nil {
			return err
		}
		out := make([]warehouseSummary, 0, len(found))
		for _, wh := range found {
			if s.allowWarehouse(wh.ID) == nil {
				out = append(out, warehouseSummary{ID: wh.ID, Name: wh.Name, State: wh.State})
			}
		}
		slices.SortFunc(out, func(a, b warehouseSummary) int {
			if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		respond(w, r, http.StatusOK, out)
		return nil
	}
}

// statementAnswer is the answer for a statement and the chunk of rows it carries (nil: none, and
// index says which chunk was asked for).
func (s *server) statementAnswer(r *http.Request, st databricks.Statement, chunk *databricks.Chunk, index int) sqlStatement {
	cols := sqlColumns(st.Columns)
	a := sqlStatement{
		StatementID: st.ID, State: st.State, Terminal: st.Terminal(), Succeeded: st.State == databricks.StatementSucceeded,
		Columns: cols, Rows: []json.RawMessage{}, ChunkIndex: index, ChunkCount: st.TotalChunks,
		TotalRowCount: st.TotalRows, Truncated: st.Truncated,
	}
	if st.Error != nil {
		a.Error = &sqlError{Code: st.Error.Code, Message: st.Error.Message, SQLState: st.Error.SQLState}
	}
	if chunk == nil {
		return a
	}
	rows, long := sqlRows(cols, chunk.Rows)
	if long {
		hlog.FromRequest(r).Warn().Str("statement_id", st.ID).Int("chunk_index", chunk.Index).
			Msg("rows of the result have more values than the result has columns; the extra values are dropped")
	}
	a.Rows, a.RowCount, a.RowOffset, a.ChunkIndex = rows, int64(len(rows)), chunk.RowOffset, chunk.Index
	if chunk.NextIndex >= 0 {
		if next, err := s.pathOf("GetStatement", map[string]string{"statement_id": st.ID}); err == nil {
			q := url.Values{"chunk_index": {strconv.Itoa(chunk.NextIndex)}}
			if v := r.URL.Query().Get("workspace"); v != "" {
				q.Set("workspace", v)
			}
			a.Next = s.publicBase() + next + "?" + q.Encode()
		}
	}
	return a
}

// answerStatement answers with the statement's status the way the 202 pattern wants: 200 without
// wait; with wait 202 + Location while it runs, then 200, or 424 statement_failed when it ended
// without success (unless fail_on_failure=false).
func (s *server) answerStatement(w http.ResponseWriter, r *http.Request, opts statementOptions, a sqlStatement, location string) {
	switch {
	case !opts.wait:
		respond(w, r, http.StatusOK, a)
	case !a.Terminal:
		s.accepted(w, r, location, a)
	case a.Succeeded || !opts.failOnFailure:
		respond(w, r, http.StatusOK, a)
	default:
		detail := fmt.Sprintf("Statement %s ended with %s.", a.StatementID, a.State)
		if a.Error != nil {
			detail += " Databricks said: " + a.Error.Message
		}
		respond(w, r, http.StatusFailedDependency, failedStatement{sqlStatement: a,
			failure: failedDependency(r, "statement_failed", boundDetail(redact.Text(detail)))})
	}
}

// statementIDParam reads {statement_id} from the path.
func statementIDParam(r *http.Request) (string, error) {
	raw := chi.URLParam(r, "statement_id")
	if !databricks.ValidStatementID(raw) {
		return "", invalidRequest("statement_id in the path must be a statement id (letters, digits, - and _), not %q.", redact.Value(raw))
	}
	return raw, nil
}

// chunkIndexParam reads the optional chunk_index query parameter: an integer ≥ 0, default 0.
func chunkIndexParam(r *http.Request) (int, error) {
	raw := r.URL.Query().Get("chunk_index")
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, invalidRequest("Query parameter chunk_index must be an integer from 0, not %q.", redact.Value(raw))
	}
	return n, nil
}
