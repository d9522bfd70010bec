// Package fakeworkspace is a test double of an Azure Databricks workspace's Jobs API 2.2 and Databricks
// SQL (the Statement Execution API 2.0 and the warehouse list), faithful to the wire behaviour
// databricks-sdk-go v0.175.0 relies on: the endpoints, query parameters and JSON fields the SDK uses;
// Databricks' error bodies and status codes (including the Jetty HTML 403 for principals that are not in
// the workspace); per-job and per-warehouse ACLs; runs that move QUEUED → PENDING → RUNNING →
// TERMINATING → TERMINATED, are listed with runs/list's filters and page tokens and are repaired with
// runs/repair (a repair history, new task runs, tasks that fail only on their first attempts), and
// statements that move PENDING → RUNNING → SUCCEEDED/FAILED/CANCELED →
// CLOSED on an injectable clock; idempotency tokens; and fault injection (429, 5xx, latency, lost
// responses) with counters. Statements run as real SQL on an embedded SQLite database holding the
// fixture's Unity Catalog tables, with the caller's SELECT grants checked before they run. It is used by
// the local stack, the end-to-end tests and the load benchmark.
//
// Server is an http.Handler; the caller owns the listener (HTTPS in the devstack) and provides token
// verification through Config.Verify. Besides the Databricks APIs it serves fake-only endpoints:
// GET /devstack/stats, GET /devstack/statements (what each statement was sent with, for tests),
// GET, POST (a Fault as JSON) and DELETE /devstack/faults.
package fakeworkspace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Paths of the Jobs API 2.2 endpoints the fake implements (as databricks-sdk-go v0.175.0 calls them).
const (
	PathRunNow        = "/api/2.2/jobs/run-now"
	PathRunsGet       = "/api/2.2/jobs/runs/get"
	PathRunsGetOutput = "/api/2.2/jobs/runs/get-output"
	PathRunsCancel    = "/api/2.2/jobs/runs/cancel"
	PathRunsList      = "/api/2.2/jobs/runs/list"
	PathRunsRepair    = "/api/2.2/jobs/runs/repair"
	PathJobsList      = "/api/2.2/jobs/list"
	PathJobsGet       = "/api/2.2/jobs/get"
	// PathWellKnown is the SDK's host-metadata discovery document. The fake answers 404 and counts the
	// calls: flowbricks promises never to make it.
	PathWellKnown = "/.well-known/databricks-config"
)

const (
	maxBodyBytes     = 1 << 20
	maxParamBytes    = 10_000
	maxIdemTokenLen  = 64
	maxNotebookBytes = 5 << 20
)

// Stats are the fake's counters. Requests to /devstack/* are not counted.
type Stats struct {
	RequestsTotal int64 `json:"requests_total"`
	// Per endpoint, every request whatever its outcome (401, 403, fault, …).
	RunNow           int64 `json:"run_now"`
	RunsGet          int64 `json:"runs_get"`
	RunsGetOutput    int64 `json:"runs_get_output"`
	RunsCancel       int64 `json:"runs_cancel"`
	RunsList         int64 `json:"runs_list"`
	RunsRepair       int64 `json:"runs_repair"`
	JobsList         int64 `json:"jobs_list"`
	JobsGet          int64 `json:"jobs_get"`
	WellKnown        int64 `json:"well_known"`
	EndpointNotFound int64 `json:"endpoint_not_found"`
	// Statement Execution and warehouse endpoints, every request whatever its outcome:
	// POST /api/2.0/sql/statements, GET …/{id}, GET …/{id}/result/chunks/{n}, POST …/{id}/cancel,
	// GET /api/2.0/sql/warehouses and GET …/{id}.
	StatementsExecuted int64 `json:"statements_executed"`
	StatementsGet      int64 `json:"statements_get"`
	StatementChunks    int64 `json:"statement_chunks"`
	StatementsCanceled int64 `json:"statements_canceled"`
	WarehousesList     int64 `json:"warehouses_list"`
	WarehousesGet      int64 `json:"warehouses_get"`

	RunsCreated       int64 `json:"runs_created"`       // new runs (not idempotent replays)
	IdempotentReplays int64 `json:"idempotent_replays"` // run-now answered with an existing run
	RepairsCreated    int64 `json:"repairs_created"`    // runs/repair calls that started a repair
	FaultsServed      int64 `json:"faults_served"`      // requests an injected fault applied to
	Unauthorized      int64 `json:"unauthorized"`       // 401 answers
	Forbidden         int64 `json:"forbidden"`          // 403 answers (not in workspace, no permission, token refused as expired)
	// TokensRejected counts requests whose verified token was refused as expired or expiring
	// (a TokenRejection, or a token within 30 s of its expiry); they are in Unauthorized or Forbidden too.
	TokensRejected int64 `json:"tokens_rejected"`

	// RequestsByPrincipal counts authenticated requests by UPN or application id (lower case).
	RequestsByPrincipal map[string]int64 `json:"requests_by_principal"`
	// AuthorizationHeadersSeen is the number of distinct bearer tokens presented (counted by hash; tokens
	// are never stored).
	AuthorizationHeadersSeen int `json:"authorization_headers_seen"`
}

// Fault makes the fake misbehave for matching requests.
type Fault struct {
	// Path is the request path the fault applies to, e.g. "/api/2.2/jobs/run-now"; "" = every API path.
	// A path ending in "*" is a prefix, for paths that carry ids: "/api/2.0/sql/statements/*" matches
	// every get, chunk and cancel of a statement (and not the execute, /api/2.0/sql/statements).
	Path string `json:"path"`
	// Status is the status to answer: 429, 503, 500, 502, 504 have Databricks- or gateway-shaped bodies;
	// any other 4xx/5xx gets a generic one. 0 = latency only.
	Status int `json:"status"`
	// Count is how many requests it applies to; 0 = until cleared.
	Count int `json:"count"`
	// LatencyMs delays the answer (wall clock). The delay ends early when the client goes away.
	LatencyMs int `json:"latency_ms"`
	// HTML answers with a gateway-style HTML page instead of JSON.
	HTML bool `json:"html"`
	// AfterEffect applies the request's effect (e.g. creates the run) and then answers with the fault:
	// a lost response.
	AfterEffect bool `json:"after_effect"`
}

type activeFault struct {
	Fault
	remaining int // for Count > 0
}

// Server is the fake workspace. Create it with New.
type Server struct {
	cfg      Config
	now      func() time.Time
	jobs     []*job // by job id
	jobByID  map[int64]*job
	users    map[string]bool
	sps      map[string]bool
	admins   map[string]bool
	orgIDHdr string

	mu        sync.Mutex
	nextRunID int64
	runs      map[int64]*run    // job run id → run
	taskRuns  map[int64]taskRef // task run id → task of a run
	idem      map[string]*run   // idempotency token → run, workspace-wide (see runNow)
	faults    []*activeFault
	stats     Stats
	tokens    map[[32]byte]struct{}

	rejections []*activeRejection // guarded by mu, see tokens.go

	sql *sqlSide // warehouses, tables and statements (sql_statements.go); guarded by mu but for its engine
}

type taskRef struct {
	run *run
	k   int
}

// New validates cfg and returns a workspace with no runs.
func New(cfg Config) (*Server, error) {
	if cfg.Verify == nil {
		return nil, errors.New("fakeworkspace: Config.Verify is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.WorkspaceID == 0 {
		cfg.WorkspaceID = defaultWorkspaceID
	}
	if cfg.FirstRunID == 0 {
		cfg.FirstRunID = defaultFirstRunID
	}
	if cfg.WorkspaceID < 0 || cfg.FirstRunID < 0 {
		return nil, errors.New("fakeworkspace: workspace_id and first_run_id must be > 0")
	}
	jobs, err := buildJobs(&cfg, cfg.Now())
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		now:       cfg.Now,
		jobs:      jobs,
		jobByID:   make(map[int64]*job, len(jobs)),
		users:     lowerSet(cfg.Users),
		sps:       lowerSet(cfg.ServicePrincipals),
		admins:    lowerSet(cfg.Admins),
		orgIDHdr:  fmt.Sprint(cfg.WorkspaceID),
		nextRunID: cfg.FirstRunID,
		runs:      map[int64]*run{},
		taskRuns:  map[int64]taskRef{},
		idem:      map[string]*run{},
		tokens:    map[[32]byte]struct{}{},
		stats:     Stats{RequestsByPrincipal: map[string]int64{}},
	}
	for _, j := range jobs {
		s.jobByID[j.JobID] = j
	}
	if s.sql, err = newSQLSide(cfg.SQL); err != nil {
		return nil, err
	}
	if eng := s.sql.eng; eng != nil {
		// A Server dropped without Close still gives its SQLite memory back.
		runtime.AddCleanup(s, func(e *engine) { _ = e.close() }, eng)
	}
	for a := range s.admins {
		if !s.users[a] && !s.sps[a] {
			return nil, fmt.Errorf("fakeworkspace: admin %q is not a workspace user or service principal", a)
		}
	}
	return s, nil
}

// Close releases the SQL engine. The Server answers no statement afterwards; everything else works.
func (s *Server) Close() error {
	if s.sql.eng == nil {
		return nil
	}
	return s.sql.eng.close()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.RequestsByPrincipal = make(map[string]int64, len(s.stats.RequestsByPrincipal))
	for k, v := range s.stats.RequestsByPrincipal {
		st.RequestsByPrincipal[k] = v
	}
	st.AuthorizationHeadersSeen = len(s.tokens)
	return st
}

// InjectFault adds a fault. Faults apply in the order they were added; the first one matching a request
// wins. The error reports a fault that makes no sense (the HTTP endpoint answers 400 with it).
func (s *Server) InjectFault(f Fault) error {
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("fakeworkspace: fault status must be 0 (latency only) or 400-599, got %d", f.Status)
	}
	if f.Count < 0 || f.LatencyMs < 0 {
		return errors.New("fakeworkspace: fault count and latency_ms must be >= 0")
	}
	if f.Status == 0 && f.LatencyMs == 0 {
		return errors.New("fakeworkspace: a fault needs a status or a latency")
	}
	if f.Path != "" && !strings.HasPrefix(f.Path, "/") {
		return fmt.Errorf("fakeworkspace: fault path must start with / (or be empty for all), got %q", f.Path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &activeFault{Fault: f, remaining: f.Count})
	return nil
}

// ClearFaults removes all faults and token rejections.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.rejections = nil
}

func (s *Server) activeFaults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		g := f.Fault
		if g.Count > 0 {
			g.Count = f.remaining
		}
		out = append(out, g)
	}
	return out
}

// takeFault returns the first fault matching path and uses one of its applications.
func (s *Server) takeFault(path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !faultMatches(f.Path, path) {
			continue
		}
		if f.Count > 0 {
			f.remaining--
			if f.remaining <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		s.stats.FaultsServed++
		return f.Fault, true
	}
	return Fault{}, false
}

// faultMatches reports whether a fault's path (exact, a prefix ending in "*", or "" for all) covers path.
func faultMatches(pattern, path string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return pattern == "" || pattern == path
}

// ServeHTTP serves the Databricks APIs and the fake-only /devstack endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/devstack" || strings.HasPrefix(path, "/devstack/") {
		s.serveDevstack(w, r)
		return
	}
	reqID := uuid.NewString()
	w.Header().Set("X-Request-Id", reqID)
	w.Header().Set("X-Databricks-Org-Id", s.orgIDHdr)
	s.mu.Lock()
	s.stats.RequestsTotal++
	if c := s.endpointCounter(path); c != nil {
		*c++
	}
	s.mu.Unlock()

	if path == PathWellKnown {
		writeAPIError(w, http.StatusNotFound, "ENDPOINT_NOT_FOUND", fmt.Sprintf("No API found for '%s %s'", r.Method, path), nil)
		return
	}
	if f, ok := s.takeFault(path); ok {
		if f.LatencyMs > 0 && !bufferBody(w, r) {
			return
		}
		if f.LatencyMs > 0 && !sleepCtx(r.Context(), time.Duration(f.LatencyMs)*time.Millisecond) {
			// The request ended before the delay did. Returning would make net/http send an
			// empty 200 — an answer no workspace gives, which a client still reading would take
			// for a success. Abort the response instead: the connection is closed without an
			// answer (net/http, ErrAbortHandler), as when a hung upstream finally drops it.
			panic(http.ErrAbortHandler)
		}
		if f.Status != 0 {
			if f.AfterEffect {
				s.serveAPI(&discardWriter{}, r, reqID)
			}
			writeFault(w, f, r)
			return
		}
	}
	s.serveAPI(w, r, reqID)
}

func (s *Server) endpointCounter(path string) *int64 {
	switch path {
	case PathRunNow:
		return &s.stats.RunNow
	case PathRunsGet:
		return &s.stats.RunsGet
	case PathRunsGetOutput:
		return &s.stats.RunsGetOutput
	case PathRunsCancel:
		return &s.stats.RunsCancel
	case PathRunsList:
		return &s.stats.RunsList
	case PathRunsRepair:
		return &s.stats.RunsRepair
	case PathJobsList:
		return &s.stats.JobsList
	case PathJobsGet:
		return &s.stats.JobsGet
	case PathWellKnown:
		return &s.stats.WellKnown
	}
	return s.sqlEndpointCounter(path)
}

var apiVersionPrefix = regexp.MustCompile(`^/api/[^/]+`)

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, reqID string) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	c := &call{s: s, w: w, r: r, p: p, name: p.name(), reqID: reqID}
	switch r.Method + " " + r.URL.Path {
	case http.MethodPost + " " + PathRunNow:
		s.runNow(c)
	case http.MethodGet + " " + PathRunsGet:
		s.runsGet(c)
	case http.MethodGet + " " + PathRunsGetOutput:
		s.runsGetOutput(c)
	case http.MethodPost + " " + PathRunsCancel:
		s.runsCancel(c)
	case http.MethodGet + " " + PathRunsList:
		s.runsList(c)
	case http.MethodPost + " " + PathRunsRepair:
		s.runsRepair(c)
	case http.MethodGet + " " + PathJobsList:
		s.jobsList(c)
	case http.MethodGet + " " + PathJobsGet:
		s.jobsGet(c)
	default:
		if s.serveSQL(c) {
			return
		}
		s.mu.Lock()
		s.stats.EndpointNotFound++
		s.mu.Unlock()
		// Databricks names the endpoint without its /api/<version> prefix.
		rest := apiVersionPrefix.ReplaceAllString(r.URL.Path, "")
		if rest == "" {
			rest = "/"
		}
		writeAPIError(w, http.StatusNotFound, "ENDPOINT_NOT_FOUND", fmt.Sprintf("No API found for '%s %s'", r.Method, rest), nil)
	}
}

// authenticate checks the bearer token and workspace membership, answering 401/403 itself when they
// fail: an invalid or expired token, a valid one the workspace refuses as expiring or expired
// (takeRejection), then a principal that is not in the workspace.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	tok, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		s.mu.Lock()
		s.stats.Unauthorized++
		s.mu.Unlock()
		writeUnauthenticated(w, "Credential was not sent or was of an unsupported type for this API.")
		return Principal{}, false
	}
	sum := tokenSum(tok)
	s.mu.Lock()
	s.tokens[sum] = struct{}{}
	s.mu.Unlock()

	p, err := s.cfg.Verify(tok)
	if err == nil && p.name() == "" {
		err = errors.New("verify returned a principal without UPN or application id")
	}
	if err != nil {
		s.mu.Lock()
		s.stats.Unauthorized++
		s.mu.Unlock()
		msg := "Invalid access token."
		if errors.Is(err, ErrTokenExpired) {
			msg = "Token is expired"
		}
		writeUnauthenticated(w, msg)
		return Principal{}, false
	}
	if form := s.takeRejection(r.URL.Path, sum, p.ExpiresAt); form != "" {
		s.writeTokenRejection(w, form, r.URL.Path)
		return Principal{}, false
	}
	name := strings.ToLower(p.name())
	member := s.users[name]
	if p.App {
		member = s.sps[name]
	}
	s.mu.Lock()
	s.stats.RequestsByPrincipal[name]++
	if !member {
		s.stats.Forbidden++
	}
	s.mu.Unlock()
	if !member {
		writeJettyForbidden(w, r.URL.Path)
		return Principal{}, false
	}
	return p, true
}

func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// rank is the caller's permission level on j (0 = none). Admins have CAN_MANAGE on every job; every
// workspace principal is in the built-in "users" group.
func (s *Server) rank(j *job, p Principal) int {
	name := strings.ToLower(p.name())
	if s.admins[name] {
		return permRank[CanManage]
	}
	return max(j.acl[name], j.acl[AllUsersGroup])
}

func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.HostURL != "" {
		return strings.TrimRight(s.cfg.HostURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) runPageURL(base string, jobID, runID int64) string {
	return fmt.Sprintf("%s/?o=%d#job/%d/run/%d", base, s.cfg.WorkspaceID, jobID, runID)
}

// ---- responses ----

type apiError struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
	Details   []any  `json:"details,omitempty"`
}

type requestInfo struct {
	Type        string `json:"@type"`
	RequestID   string `json:"request_id"`
	ServingData string `json:"serving_data"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string, details []any) {
	writeJSON(w, status, apiError{ErrorCode: code, Message: msg, Details: details})
}

// writeUnauthenticated answers 401 the way Azure Databricks does: a numeric error_code.
func writeUnauthenticated(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnauthorized, map[string]any{"error_code": 401, "message": msg})
}

// writeJettyForbidden is the page Azure Databricks' Jetty front end returns for a valid Entra token whose
// principal was never added to the workspace. The SDK reads the <pre> text as the message and the status
// text as the code: ErrorCode "FORBIDDEN", Message "User not authorized".
func writeJettyForbidden(w http.ResponseWriter, path string) {
	writeJettyPage(w, http.StatusForbidden, "User not authorized.", path)
}

func writeFault(w http.ResponseWriter, f Fault, r *http.Request) {
	if f.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if f.HTML {
		body := gatewayPage(f.Status)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(body))
		return
	}
	code, msg := "", ""
	switch f.Status {
	case http.StatusTooManyRequests:
		code, msg = "REQUEST_LIMIT_EXCEEDED", "Too many requests. Please wait a moment and try again."
	case http.StatusServiceUnavailable:
		code, msg = "TEMPORARILY_UNAVAILABLE", fmt.Sprintf("The service at %s is temporarily unavailable. Please try again later.", r.URL.Path)
	case http.StatusInternalServerError:
		code, msg = "INTERNAL_ERROR", "Internal error happened while processing the request. Please try again."
	case http.StatusBadGateway:
		code, msg = "BAD_GATEWAY", "Bad Gateway"
	case http.StatusGatewayTimeout:
		code, msg = "DEADLINE_EXCEEDED", "The request timed out. Please try again."
	default:
		msg = http.StatusText(f.Status)
		if msg == "" {
			msg = fmt.Sprintf("Status %d", f.Status)
		}
		code = strings.ToUpper(strings.ReplaceAll(msg, " ", "_"))
	}
	writeAPIError(w, f.Status, code, msg, nil)
}

// gatewayPage is an HTML error page like the ones load balancers in front of a workspace answer with.
// It has no <pre>, so the SDK reports ErrorCode "UNKNOWN" with the page as the message.
func gatewayPage(status int) string {
	title := fmt.Sprintf("%d %s", status, http.StatusText(status))
	text := title
	switch status {
	case http.StatusServiceUnavailable:
		text = "No webapps are available to handle your request. Please try again later."
	case http.StatusGatewayTimeout:
		title = "504 Gateway Time-out"
		text = title
	}
	return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
}

// discardWriter swallows the real answer of a request whose fault has AfterEffect set.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// bufferBody reads the request body into memory before a delay. An HTTP/1.1 server notices a
// client that hangs up (and cancels the request's context) only once the body has been read to
// its end; without this a delayed POST would sleep on after its client gave up and hold up Shutdown.
func bufferBody(w http.ResponseWriter, r *http.Request) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "MALFORMED_REQUEST", "could not read the request body", nil)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// sleepCtx waits for d or until ctx is done; it reports whether the full delay passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ---- fake-only endpoints ----

func (s *Server) serveDevstack(w http.ResponseWriter, r *http.Request) {
	switch r.Method + " " + r.URL.Path {
	case "GET /devstack/stats":
		writeJSON(w, http.StatusOK, s.Stats())
	case "GET /devstack/statements":
		writeJSON(w, http.StatusOK, map[string]any{"statements": s.Statements()})
	case "GET /devstack/faults":
		writeJSON(w, http.StatusOK, map[string]any{"faults": s.activeFaults()})
	case "POST /devstack/faults":
		var f Fault
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid fault: " + err.Error()})
			return
		}
		if err := s.InjectFault(f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"faults": s.activeFaults()})
	case "DELETE /devstack/faults":
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such devstack endpoint: " + r.Method + " " + r.URL.Path})
	}
}
