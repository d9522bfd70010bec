package api_test

// Benchmarks of one whole warm request through the router: the real entra.Validator and
// entra.Exchanger against an in-process fake Entra ID, the real databricks.Client against an
// in-process fake workspace, both served over HTTPS by httptest and reached through the product's
// transports (entra.NewTransport, databricks.NewTransport), and the production logger configuration (JSON, info level) writing to io.Discard.
//
// internal/* never imports devstack/* in product code; these _test.go files import
// devstack/fakeentra and devstack/fakeworkspace only to have faithful upstreams for the
// benchmarks (they are test doubles, never linked into the handler).
//
// Run with: go test -run '^$' -bench Router -benchmem ./internal/api

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	"github.com/flowbricks/flowbricks/internal/api"
	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
)

const (
	benchTenant   = "7e1a2b3c-0000-4d5e-8f00-00000000fb01"
	benchClientID = "f10b61c5-0000-4000-8000-00000000a001"
	benchSecret   = "bench-only-secret"
	benchJobID    = 7001

	// The SQL benchmarks' statement and warehouse: what `devstack bench` runs in its SQL phase
	// (4 rows of 3 columns, one typed parameter).
	benchWarehouseID = "5f3c0a1b2c3d4e5f"
	benchStatement   = `{"statement": "SELECT region, manager, active FROM main.sales.regions WHERE active = :active ORDER BY region", ` +
		`"warehouse_id": "` + benchWarehouseID + `", "parameters": [{"name": "active", "value": true, "type": "BOOLEAN"}]}`
)

// benchEnv is a router wired like internal/app wires it, with the product's transports, against
// in-process fakes (a stub can replace the Databricks client, which app.New cannot).
type benchEnv struct {
	router    http.Handler
	authz     string // "Bearer <user token>"
	entra     *fakeentra.Server
	workspace *fakeworkspace.Server
	runID     int64
}

// lateHandler lets a server start (so its URL is known) before the handler that needs the URL
// exists.
type lateHandler struct {
	once sync.Once
	h    http.Handler
	set  chan struct{}
}

func newLateHandler() *lateHandler { return &lateHandler{set: make(chan struct{})} }
func (l *lateHandler) Set(h http.Handler) {
	l.once.Do(func() { l.h = h; close(l.set) })
}
func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { <-l.set; l.h.ServeHTTP(w, r) }

func startTLS(b *testing.B, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	b.Cleanup(srv.Close)
	return srv
}

// trust is the pool of the one certificate an httptest server presents.
func trust(srv *httptest.Server) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool
}

func newBenchEnv(b *testing.B, stubJobs api.Workspace) *benchEnv {
	b.Helper()
	const upn = "bench-user@contoso.example"
	env := &benchEnv{}

	entraLate := newLateHandler()
	entraSrv := startTLS(b, entraLate)
	var err error
	env.entra, err = fakeentra.New(fakeentra.Config{
		BaseURL:  entraSrv.URL,
		TenantID: benchTenant,
		API:      fakeentra.APIRegistration{ClientID: benchClientID, ClientSecret: benchSecret},
		Users:    []fakeentra.User{{Name: "bench", OID: "be4c0000-0000-4000-8000-000000000001", UPN: upn}},
	})
	if err != nil {
		b.Fatal(err)
	}
	entraLate.Set(env.entra)

	// The fake workspace verifies every Databricks token (an RS256 check). That cost is the
	// workspace's, not flowbricks', so verified tokens are remembered: the profile of these
	// benchmarks is flowbricks' work plus a cheap upstream.
	var verified sync.Map
	wsLate := newLateHandler()
	wsSrv := startTLS(b, wsLate)
	env.workspace, err = fakeworkspace.New(fakeworkspace.Config{
		Verify: func(token string) (fakeworkspace.Principal, error) {
			if p, ok := verified.Load(token); ok {
				return p.(fakeworkspace.Principal), nil
			}
			c, err := env.entra.Verify(token, azure.DatabricksAppID)
			if err != nil {
				return fakeworkspace.Principal{}, err
			}
			p := fakeworkspace.Principal{UPN: c.UPN, OID: c.OID, AppID: c.AppID, App: c.IsApp}
			verified.Store(token, p)
			return p, nil
		},
		Users:   []string{upn},
		HostURL: wsSrv.URL,
		Jobs: []fakeworkspace.Job{{
			JobID: benchJobID, Name: "bench-pipeline", Creator: "data-eng@contoso.example",
			ACL: map[string]string{fakeworkspace.AllUsersGroup: fakeworkspace.CanManageRun},
			Tasks: []fakeworkspace.Task{
				{TaskKey: "ingest"},
				{TaskKey: "transform", DependsOn: []string{"ingest"}},
				{TaskKey: "report", DependsOn: []string{"transform"}},
			},
			RunningMs: int(time.Hour / time.Millisecond),
		}},
		SQL: &fakeworkspace.SQLConfig{
			Warehouses: []fakeworkspace.Warehouse{{ID: benchWarehouseID, Name: "Shared SQL", ACL: map[string]string{upn: fakeworkspace.CanUse}}},
			Tables: []fakeworkspace.Table{{
				Name:    "main.sales.regions",
				Columns: []fakeworkspace.Column{{Name: "region", Type: "STRING"}, {Name: "manager", Type: "STRING"}, {Name: "active", Type: "BOOLEAN"}},
				Rows: [][]json.RawMessage{
					{json.RawMessage(`"EMEA"`), json.RawMessage(`"Eva Marsh"`), json.RawMessage(`true`)},
					{json.RawMessage(`"AMER"`), json.RawMessage(`"Alan Ortiz"`), json.RawMessage(`true`)},
					{json.RawMessage(`"APAC"`), json.RawMessage(`"Priya Nair"`), json.RawMessage(`true`)},
					{json.RawMessage(`"LATAM"`), json.RawMessage(`"Lucas Souza"`), json.RawMessage(`true`)},
					{json.RawMessage(`"ANZ"`), json.RawMessage(`"Noah Reid"`), json.RawMessage(`false`)},
				},
				Grants: map[string][]string{upn: {"SELECT"}},
			}},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	wsLate.Set(env.workspace)

	entraHTTP := &http.Client{Transport: entra.NewTransport(trust(entraSrv)), Timeout: 30 * time.Second}
	b.Cleanup(entraHTTP.CloseIdleConnections)
	logger := zerolog.New(io.Discard).Level(zerolog.InfoLevel).With().Timestamp().Str("service", "flowbricks").Logger()
	validator, err := entra.NewValidator(entra.ValidatorOptions{
		AuthorityHost: entraSrv.URL + "/",
		TenantID:      benchTenant,
		Audiences:     []string{benchClientID, "api://" + benchClientID},
		Scope:         config.DefaultScope,
		HTTPClient:    entraHTTP,
		Logger:        logger,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = validator.Close() })
	exchanger, err := entra.NewExchanger(entra.ExchangerOptions{
		AuthorityHost: entraSrv.URL + "/",
		TenantID:      benchTenant,
		ClientID:      benchClientID,
		Credential:    entra.CredentialOptions{ClientSecret: benchSecret},
		Scope:         azure.DatabricksScope,
		HTTPClient:    entraHTTP,
		Logger:        logger,
	})
	if err != nil {
		b.Fatal(err)
	}
	jobs := stubJobs
	if jobs == nil {
		wsTransport := databricks.NewTransport(trust(wsSrv))
		b.Cleanup(wsTransport.CloseIdleConnections)
		client, err := databricks.New(databricks.Options{Host: wsSrv.URL, Transport: wsTransport})
		if err != nil {
			b.Fatal(err)
		}
		jobs = client
	}
	env.router = api.NewServer(api.Deps{
		Config: config.Config{
			TenantID: benchTenant, ClientID: benchClientID, DatabricksHost: wsSrv.URL,
			Workspaces: map[string]string{"default": wsSrv.URL}, Audiences: []string{benchClientID},
			Scope: config.DefaultScope, PublicURL: "https://flowbricks.example", PollInterval: 20 * time.Second,
			SQL: config.SQLAny, SQLMaxRows: config.DefaultSQLMaxRows, SQLMaxBytes: config.DefaultSQLMaxBytes,
		},
		Logger:     logger,
		Auth:       validator,
		Exchanger:  exchanger,
		Workspaces: map[string]api.Workspace{"default": jobs},
	})
	tok, err := env.entra.MintUserToken("bench", fakeentra.MintOptions{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	env.authz = "Bearer " + tok

	// Warm everything: keys, the exchange, connections; and create the run get-run reads.
	env.runID = env.runNow(b, 0)
	env.getRun(b, 0)
	return env
}

// benchWriter is a reusable http.ResponseWriter that keeps only the status and the body size.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *benchWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

func flowRequest(method, target, authz, body string, i int) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", authz)
	r.Header.Set("x-ms-workflow-run-id", fmt.Sprintf("08584bench%012d", i))
	r.Header.Set("x-ms-workflow-operation-name", "Run_Databricks_job")
	return r
}

func (e *benchEnv) getRun(b *testing.B, i int) {
	w := &benchWriter{h: http.Header{}}
	e.router.ServeHTTP(w, flowRequest(http.MethodGet, fmt.Sprintf("/api/jobs/runs/%d", e.runID), e.authz, "", i))
	if w.status != http.StatusOK {
		b.Fatalf("get-run answered %d", w.status)
	}
}

func (e *benchEnv) runNow(b *testing.B, i int) int64 {
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, flowRequest(http.MethodPost, "/api/jobs/run-now", e.authz, fmt.Sprintf(`{"job_id": %d}`, benchJobID), i))
	if rec.Code != http.StatusOK {
		b.Fatalf("run-now answered %d: %s", rec.Code, rec.Body)
	}
	var id int64
	if _, err := fmt.Sscanf(rec.Body.String(), `{"run_id":%d`, &id); err != nil {
		b.Fatalf("run-now answer: %v: %s", err, rec.Body)
	}
	return id
}

// BenchmarkRouterWarmGetRun is one poll of a flow: validation, cache-hit exchange, runs/get
// through the SDK to the fake workspace over HTTPS/2, mapping, the JSON answer, the access log.
func BenchmarkRouterWarmGetRun(b *testing.B) {
	env := newBenchEnv(b, nil)
	before := env.entra.Stats().TokenRequests
	env.loop(b, http.MethodGet, fmt.Sprintf("/api/jobs/runs/%d", env.runID), "")
	b.StopTimer()
	if n := env.entra.Stats().TokenRequests; n != before {
		b.Fatalf("warm requests called Entra's token endpoint %d times", n-before)
	}
}

// BenchmarkRouterWarmGetRunParallel is the same with concurrent flows.
func BenchmarkRouterWarmGetRunParallel(b *testing.B) {
	env := newBenchEnv(b, nil)
	target := fmt.Sprintf("/api/jobs/runs/%d", env.runID)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &benchWriter{h: http.Header{}}
		i := 0
		for pb.Next() {
			i++
			w.reset()
			env.router.ServeHTTP(w, flowRequest(http.MethodGet, target, env.authz, "", i))
			if w.status != http.StatusOK {
				b.Errorf("get-run answered %d", w.status)
				return
			}
		}
	})
}

// BenchmarkRouterWarmRunNow is a trigger: run-now and the read-back runs/get.
func BenchmarkRouterWarmRunNow(b *testing.B) {
	env := newBenchEnv(b, nil)
	env.loop(b, http.MethodPost, "/api/jobs/run-now", fmt.Sprintf(`{"job_id": %d}`, benchJobID))
}

// loop sends the same flow request (each with its own workflow run id) for b.Loop, failing on
// any answer but 200.
func (env *benchEnv) loop(b *testing.B, method, target, body string) {
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		w.reset()
		env.router.ServeHTTP(w, flowRequest(method, target, env.authz, body, i))
		if w.status != http.StatusOK {
			b.Fatalf("%s %s answered %d", method, target, w.status)
		}
	}
}

// stubJobs answers GetRun with a fixed three-task run and no I/O.
type stubJobs struct{ run databricks.Run }

func (s stubJobs) RunNow(context.Context, databricks.RunNowRequest) (int64, error) {
	return s.run.RunID, nil
}
func (s stubJobs) GetRun(context.Context, int64) (databricks.Run, error) { return s.run, nil }
func (s stubJobs) RunOutputs(context.Context, databricks.Run) ([]databricks.TaskOutput, error) {
	return []databricks.TaskOutput{}, nil
}
func (s stubJobs) CancelRun(context.Context, int64) error { return nil }
func (s stubJobs) ListJobs(context.Context, string, int) ([]databricks.Job, error) {
	return []databricks.Job{}, nil
}
func (s stubJobs) ListRuns(context.Context, databricks.ListRunsRequest) ([]databricks.Run, error) {
	return []databricks.Run{s.run}, nil
}
func (s stubJobs) RepairRun(context.Context, databricks.RepairRequest) (int64, error) { return 1, nil }

// The benchmarks call no SQL endpoint.
func (stubJobs) ExecuteStatement(context.Context, databricks.StatementRequest) (databricks.Statement, error) {
	return databricks.Statement{}, errors.ErrUnsupported
}
func (stubJobs) GetStatement(context.Context, string) (databricks.Statement, error) {
	return databricks.Statement{}, errors.ErrUnsupported
}
func (stubJobs) StatementChunk(context.Context, string, int) (databricks.Chunk, error) {
	return databricks.Chunk{}, errors.ErrUnsupported
}
func (stubJobs) CancelStatement(context.Context, string) error { return errors.ErrUnsupported }
func (stubJobs) ListWarehouses(context.Context) ([]databricks.Warehouse, error) {
	return nil, errors.ErrUnsupported
}

// BenchmarkRouterWarmStatement is a flow's small query: validation, cache-hit exchange, the
// strict decode, the retry memory (each request its own workflow run), execute-statement through
// the SDK to the fake warehouse (which runs the SQL on its embedded engine, in this process), the
// typed rows, the JSON answer, the audit and access lines.
func BenchmarkRouterWarmStatement(b *testing.B) {
	env := newBenchEnv(b, nil)
	env.loop(b, http.MethodPost, "/api/sql/statements", benchStatement)
}

// stubStatements answers every statement with the 4 rows the warehouse would, without I/O.
type stubStatements struct{ stubJobs }

func (stubStatements) ExecuteStatement(_ context.Context, r databricks.StatementRequest) (databricks.Statement, error) {
	v := func(s string) *string { return &s }
	rows := [][]*string{
		{v("AMER"), v("Alan Ortiz"), v("true")}, {v("APAC"), v("Priya Nair"), v("true")},
		{v("EMEA"), v("Eva Marsh"), v("true")}, {v("LATAM"), v("Lucas Souza"), v("true")},
	}
	return databricks.Statement{
		ID: "01f0c2a4-0000-4000-8000-000000000001", State: databricks.StatementSucceeded, TotalRows: 4, TotalChunks: 1,
		Columns: []databricks.Column{
			{Name: "region", Position: 0, TypeName: "STRING", TypeText: "STRING"},
			{Name: "manager", Position: 1, TypeName: "STRING", TypeText: "STRING"},
			{Name: "active", Position: 2, TypeName: "BOOLEAN", TypeText: "BOOLEAN"},
		},
		Chunk: &databricks.Chunk{Index: 0, RowCount: 4, Rows: rows, NextIndex: -1},
	}, nil
}

// BenchmarkRouterStatementNoUpstream is flowbricks' own share of a small query: the same router,
// validation, exchange, decode, retry memory, typed rows and answer, with the SQL warehouse
// stubbed.
func BenchmarkRouterStatementNoUpstream(b *testing.B) {
	// newBenchEnv warms up with a run-now and a get-run: the stub answers them with this run.
	run := databricks.Run{RunID: 412000000000001, JobID: benchJobID, RunName: "bench-pipeline", State: "RUNNING"}
	env := newBenchEnv(b, stubStatements{stubJobs{run: run}})
	env.loop(b, http.MethodPost, "/api/sql/statements", benchStatement)
}

// BenchmarkRouterGetRunNoUpstream is flowbricks' own share of a get-run: the same router,
// validation and exchange, with a Jobs stub in place of the SDK and the network.
func BenchmarkRouterGetRunNoUpstream(b *testing.B) {
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	run := databricks.Run{
		RunID: 412000000000001, JobID: benchJobID, RunName: "bench-pipeline", State: "RUNNING",
		RunPageURL: "https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456#job/7001/run/412000000000001",
		StartTime:  start.Format(time.RFC3339),
	}
	for k, key := range []string{"ingest", "transform", "report"} {
		run.Tasks = append(run.Tasks, databricks.TaskRun{TaskKey: key, RunID: run.RunID + int64(k) + 1, State: "RUNNING", RunPageURL: run.RunPageURL})
	}
	env := newBenchEnv(b, stubJobs{run: run})
	env.loop(b, http.MethodGet, fmt.Sprintf("/api/jobs/runs/%d", run.RunID), "")
}
