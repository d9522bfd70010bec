package bench

// `devstack bench`: load against the local stack, to measure what flowbricks adds to a Jobs API
// call and to a SQL statement (latency, the handler's CPU and memory, its calls to Entra ID and the
// workspace) and how fast the handler binary starts. docs/performance.md explains every figure.
//
// What runs where: this process holds the load generator, the fake Entra ID and the fake
// workspace; the handler is the real binary, built the way tools/package builds it for
// deployment, started by the host stand-in. Requests "through flowbricks" go straight to the
// handler's own port (the stand-in's proxy is not measured). Requests "direct" go to the fake
// workspace with Databricks tokens of the same users, exchanged On-Behalf-Of by this process with
// the same code and settings the handler uses (internal/entra.Exchanger), so they are the same
// upstream work without flowbricks. Everything listens on 127.0.0.1 and everything started here is
// stopped before the command returns.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	"github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/benchprofile"
	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
)

// Defaults of `devstack bench`: they finish in well under a minute on 2 cores (plus the first
// build of the handler).
const (
	benchDefaultUsers       = 1000
	benchDefaultConcurrency = 32
	benchDefaultRequests    = 20000
	benchDefaultBurst       = 2
	benchDefaultColdStarts  = 20
	benchDefaultSerial      = 1000
	benchDefaultTimeout     = 5 * time.Minute

	// benchJobID is the job the bench adds to the fixture: three tasks, every workspace user may
	// run and read it, runs stay RUNNING for an hour (so every get-run answers the same shape).
	benchJobID = 7001

	// benchStatement is what the SQL phase runs: a small result (4 of the 5 rows of the fixture's
	// regions table, three columns, one of them a BOOLEAN that becomes JSON true/false) with one
	// typed parameter, on the fixture's running warehouse "Shared SQL". benchUsers grants every
	// bench user what it needs. benchStatementRows is what each answer must carry.
	benchStatement      = "SELECT region, manager, active FROM main.sales.regions WHERE active = :active ORDER BY region"
	benchWarehouseID    = "5f3c0a1b2c3d4e5f"
	benchStatementTable = "main.sales.regions"
	benchStatementRows  = 4

	benchMaxUsers       = 100_000
	benchMaxConcurrency = 1024
	benchMaxRequests    = 10_000_000
	benchMaxBurst       = 16
	benchMaxColdStarts  = 1000

	coldStartTimeout = 10 * time.Second       // one launch: exec → first answer
	coldStartPoll    = 250 * time.Microsecond // between attempts of GET /
)

// serialOp names the phases with one request in flight, sqlOp the SQL statement phases.
const (
	serialOp = "get-run, 1 in flight"
	sqlOp    = "sql-statement"
)

// The targets docs/performance.md measures against, on the bench's defaults (a 2-core machine
// with the load generator and the fakes on the same cores).
const (
	targetCPUPerGetRunMicros    = 150
	targetCPUPerRunNowMicros    = 250
	targetCPUPerStatementMicros = 250 // a SQL statement of at most 10 rows
	targetAddedP50Millis        = 0.3 // one request in flight
	targetAddedP99Millis        = 1.5 // one request in flight
	targetColdDiscovery         = 2   // OpenID discovery documents fetched in the cold burst
	targetColdStartMillis       = 40
	targetPeakRSSMB             = 40
)

type benchOptions struct {
	Users       int // distinct users, each with their own Entra ID token
	Concurrency int // requests in flight at once
	// Requests is the number of warm requests per path (through flowbricks and direct): a quarter
	// run-now, the rest get-run; and a quarter again SQL statements.
	Requests int
	// Burst is how many first requests each user sends at once in the cold phase (they must share
	// one On-Behalf-Of exchange).
	Burst int
	// Serial is the number of get-run requests per path sent one at a time (no queueing).
	Serial     int
	ColdStarts int           // launches of the handler binary for the cold-start figure
	Timeout    time.Duration // bound on the whole measurement
	AppRoot    string        // Functions app folder: host.json, function-trigger/, the built handler
	HandlerLog io.Writer     // the handler's output; nil = discarded
	Progress   io.Writer     // one line per phase; nil = quiet
	// ProfileDir, when set, receives the handler's CPU profile of each warm flowbricks phase and
	// its heap profiles before and after the warm phases; the handler in AppRoot must have been
	// built with the benchprofile tag (internal/benchprofile).
	ProfileDir string
}

func (o *benchOptions) check() error {
	switch {
	case o.Users < 1 || o.Users > benchMaxUsers:
		return fmt.Errorf("--users must be from 1 to %d", benchMaxUsers)
	case o.Concurrency < 1 || o.Concurrency > benchMaxConcurrency:
		return fmt.Errorf("--concurrency must be from 1 to %d", benchMaxConcurrency)
	case o.Requests < 4 || o.Requests > benchMaxRequests:
		return fmt.Errorf("--requests must be from 4 to %d", benchMaxRequests)
	case o.Burst < 1 || o.Burst > benchMaxBurst:
		return fmt.Errorf("--burst must be from 1 to %d", benchMaxBurst)
	case o.Serial < 0 || o.Serial > benchMaxRequests:
		return fmt.Errorf("--serial must be from 0 to %d", benchMaxRequests)
	case o.ColdStarts < 0 || o.ColdStarts > benchMaxColdStarts:
		return fmt.Errorf("--cold-starts must be from 0 to %d", benchMaxColdStarts)
	case o.Timeout <= 0:
		return errors.New("--timeout must be positive")
	case o.AppRoot == "":
		return errors.New("no app root")
	}
	return nil
}

// benchReport is the result: printed as a table, written as JSON with --out.
type benchReport struct {
	Machine   benchMachine     `json:"machine"`
	Options   benchOptionsJSON `json:"options"`
	Rows      []benchRow       `json:"rows"`
	Added     []benchAdded     `json:"added"`
	Handler   benchHandler     `json:"handler"`
	Entra     benchEntra       `json:"entra"`
	Workspace benchWorkspace   `json:"workspace"`
	ColdStart benchColdStart   `json:"cold_start"`
	Targets   []benchTarget    `json:"targets"`
	Profiles  []string         `json:"profiles,omitempty"` // files written with --profile
	Seconds   float64          `json:"seconds"`            // wall time of the measurement (without the build)
}

type benchMachine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	ClockTicks int    `json:"clock_ticks_per_second"` // unit of utime/stime in /proc/<pid>/stat
}

type benchOptionsJSON struct {
	Users       int `json:"users"`
	Concurrency int `json:"concurrency"`
	Requests    int `json:"requests"`
	RunNow      int `json:"run_now_requests"`
	GetRun      int `json:"get_run_requests"`
	Burst       int `json:"burst"`
	Serial      int `json:"serial_get_run_requests"`
	Statements  int `json:"sql_statement_requests"`
	ColdStarts  int `json:"cold_starts"`
}

// benchRow is one measured phase.
type benchRow struct {
	Operation string  `json:"operation"` // "run-now (first request per user)", "run-now", "get-run", "sql-statement"
	Path      string  `json:"path"`      // "flowbricks" or "direct"
	Requests  int     `json:"requests"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"requests_per_second"`
	P50Millis float64 `json:"p50_ms"`
	P95Millis float64 `json:"p95_ms"`
	P99Millis float64 `json:"p99_ms"`
	// HandlerCPUMicros is the handler process's CPU time (user + system) per request; flowbricks
	// rows only (0 in direct rows).
	HandlerCPUMicros float64 `json:"handler_cpu_us_per_request"`
	// UpstreamPerRequest is how many requests the workspace received per request of this phase.
	UpstreamPerRequest float64 `json:"workspace_requests_per_request"`
	// Discovery is how many OpenID discovery documents Entra ID served during the phase (the
	// direct path makes no Entra call, so they are the handler's).
	Discovery int64 `json:"entra_discovery_requests"`
}

// benchAdded is flowbricks minus direct for one operation.
type benchAdded struct {
	Operation       string  `json:"operation"`
	P50Millis       float64 `json:"p50_ms"`
	P95Millis       float64 `json:"p95_ms"`
	P99Millis       float64 `json:"p99_ms"`
	PerSecondChange float64 `json:"requests_per_second_change"` // flowbricks/direct - 1
}

type benchHandler struct {
	CPUSeconds float64 `json:"cpu_seconds"` // user + system over all phases, start-up excluded
	Requests   int     `json:"requests"`    // requests it served in the phases
	PeakRSSMB  float64 `json:"peak_rss_mb"` // VmHWM at the end
	// PeakRSSBeforeSQLMB is VmHWM before the SQL phase: the peak of the job phases alone.
	PeakRSSBeforeSQLMB float64 `json:"peak_rss_before_sql_mb"`
	FinalRSSMB         float64 `json:"final_rss_mb"`
	DistinctIDs        int     `json:"distinct_users"`
}

type benchEntra struct {
	DistinctUserTokens     int   `json:"distinct_user_tokens"`
	HandlerTokenRequests   int64 `json:"handler_token_requests"`
	HandlerOBORequests     int64 `json:"handler_obo_requests"`
	HandlerDiscovery       int64 `json:"handler_discovery_requests"`
	HandlerJWKS            int64 `json:"handler_jwks_requests"`
	AfterColdPhase         int64 `json:"token_requests_after_cold_phase"`
	BenchBaselineExchanges int64 `json:"bench_baseline_token_requests"` // the bench's own, for the direct path
	BenchBaselineDiscovery int64 `json:"bench_baseline_discovery_requests"`
	DatabricksTokenBytes   int   `json:"databricks_token_bytes"` // mean size: what a cache entry holds
}

type benchWorkspace struct {
	HandlerRequests int64 `json:"handler_requests"`
	DirectRequests  int64 `json:"direct_requests"`
	HostMetadata    int64 `json:"host_metadata_requests"` // GET /.well-known/databricks-config: must be 0
	// StatementsExecuted counts execute-statement requests from both paths: the SQL phases'
	// requests, since a retry memory replay or an SDK retry would show here.
	StatementsExecuted int64 `json:"statements_executed"`
	Errors             int64 `json:"error_answers"` // 401 + 403 + injected faults
}

type benchColdStart struct {
	Launches     int       `json:"launches"`
	MedianMillis float64   `json:"median_ms"`
	MaxMillis    float64   `json:"max_ms"`
	MinMillis    float64   `json:"min_ms"`
	Samples      []float64 `json:"samples_ms"`
}

type benchTarget struct {
	Name     string  `json:"name"`
	Target   string  `json:"target"`
	Measured string  `json:"measured"`
	Met      bool    `json:"met"`
	Value    float64 `json:"value"`
}

// Run is `devstack bench`: it parses args, builds the handler of the repository in root, measures
// and prints the report (and writes it as JSON with --out).
func Run(ctx context.Context, args []string, root string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devstack bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := benchOptions{Progress: stderr}
	fs.IntVar(&o.Users, "users", benchDefaultUsers, "distinct users (each with their own token)")
	fs.IntVar(&o.Concurrency, "concurrency", benchDefaultConcurrency, "requests in flight at once")
	fs.IntVar(&o.Requests, "requests", benchDefaultRequests, "warm requests per path (flowbricks and direct): 1/4 run-now, 3/4 get-run; and 1/4 as many SQL statements")
	fs.IntVar(&o.Burst, "burst", benchDefaultBurst, "concurrent first requests per user in the cold phase")
	fs.IntVar(&o.Serial, "serial", benchDefaultSerial, "get-run requests per path sent one at a time (added latency without queueing)")
	fs.IntVar(&o.ColdStarts, "cold-starts", benchDefaultColdStarts, "launches of the handler binary for the cold-start figure")
	fs.DurationVar(&o.Timeout, "timeout", benchDefaultTimeout, "give up when the measurement takes longer than this")
	out := fs.String("out", "", "also write the results as JSON to this file")
	fs.StringVar(&o.ProfileDir, "profile", "", "write the handler's CPU profile of each warm phase and its heap profiles to this folder (builds the handler with the benchprofile tag)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	o.AppRoot = "(built below)"
	if err := o.check(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	dir, err := os.MkdirTemp("", "flowbricks-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.AppRoot = filepath.Join(dir, "app")
	fmt.Fprintln(stderr, stack.BuildingLine)
	if err := stack.CopyApp(root, o.AppRoot); err != nil {
		return err
	}
	var tags []string
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return fmt.Errorf("bench: --profile: %w", err)
		}
		tags = append(tags, benchprofile.BuildTag)
	}
	if err := stack.BuildHandler(ctx, root, o.AppRoot, tags...); err != nil {
		return err
	}
	rep, err := bench(ctx, o)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	printBenchReport(stdout, rep)
	if *out != "" {
		if err := writeReport(*out, rep); err != nil {
			return fmt.Errorf("bench: writing %s: %w", *out, err)
		}
		fmt.Fprintf(stderr, "bench: wrote %s\n", *out)
	}
	return nil
}

// writeReport writes the report as indented JSON (--out).
func writeReport(path string, rep benchReport) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// benchUsers adds n users to the fake tenant and the workspace, and the bench job. Each user also
// gets what the SQL phase needs, one grant per user as an administrator would give them: CAN_USE
// on the bench's warehouse and SELECT on the table its statement reads (the fixture gives them
// to alice and bob only). A fixture without that warehouse or table is left as it is, and the
// SQL phase then fails with the workspace's answer.
func benchUsers(n int) func(*stack.Fixture) {
	return func(fx *stack.Fixture) {
		var acl map[string]string
		var grants map[string][]string
		if sq := fx.Workspace.SQL; sq != nil {
			for i := range sq.Warehouses {
				if sq.Warehouses[i].ID == benchWarehouseID {
					if sq.Warehouses[i].ACL == nil {
						sq.Warehouses[i].ACL = map[string]string{}
					}
					acl = sq.Warehouses[i].ACL
				}
			}
			for i := range sq.Tables {
				if strings.EqualFold(sq.Tables[i].Name, benchStatementTable) {
					if sq.Tables[i].Grants == nil {
						sq.Tables[i].Grants = map[string][]string{}
					}
					grants = sq.Tables[i].Grants
				}
			}
		}
		for i := range n {
			name := benchUserName(i)
			upn := name + "@contoso.example"
			fx.Entra.Users = append(fx.Entra.Users, fakeentra.User{
				Name: name, OID: fmt.Sprintf("be4c0000-0000-4000-8000-%012d", i+1), UPN: upn, DisplayName: "Bench User " + strconv.Itoa(i+1),
			})
			fx.Workspace.Users = append(fx.Workspace.Users, upn)
			if acl != nil {
				acl[upn] = fakeworkspace.CanUse
			}
			if grants != nil {
				grants[upn] = []string{"SELECT"}
			}
		}
		fx.Workspace.Jobs = append(fx.Workspace.Jobs, fakeworkspace.Job{
			JobID:   benchJobID,
			Name:    "bench-pipeline",
			Creator: "data-eng@contoso.example",
			ACL:     map[string]string{fakeworkspace.AllUsersGroup: fakeworkspace.CanManageRun},
			Tasks: []fakeworkspace.Task{
				{TaskKey: "ingest"},
				{TaskKey: "transform", DependsOn: []string{"ingest"}},
				{TaskKey: "report", DependsOn: []string{"transform"}},
			},
			RunningMs: int(time.Hour / time.Millisecond),
		})
	}
}

func benchUserName(i int) string { return fmt.Sprintf("bench-%05d", i+1) }

// benchRun is the state of one measurement.
type benchRun struct {
	o       benchOptions
	s       *stack.Stack
	pid     int
	handler string // http://127.0.0.1:<handler port>
	ws      string // https://127.0.0.1:<workspace port>
	tag     string // random, makes idempotency tokens and workflow run ids unique per bench run

	userAuth []string // "Bearer <Entra token for the flowbricks API>", per user
	dbxAuth  []string // "Bearer <Databricks token>", per user (direct path)
	oids     []string

	fb, direct *http.Client

	mu     sync.Mutex
	runIDs []int64 // runs created so far, read by the get-run phases

	profiles []string // files written to o.ProfileDir
}

// profileName is the path of a profile file in --profile's folder, "" without --profile or name.
func (b *benchRun) profileName(name string) string {
	if b.o.ProfileDir == "" || name == "" {
		return ""
	}
	return filepath.Join(b.o.ProfileDir, name)
}

// writeProfile writes what get produces to path and remembers the file for the report.
func (b *benchRun) writeProfile(path string, get func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := get(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return err
	}
	b.profiles = append(b.profiles, path)
	return nil
}

// bench starts the stack, runs the phases, measures cold starts and stops everything.
func bench(ctx context.Context, o benchOptions) (rep benchReport, err error) {
	if err := o.check(); err != nil {
		return rep, err
	}
	tick, err := clockTicks()
	if err != nil {
		return rep, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	started := time.Now()
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "bench: "+format+"\n", args...)
		}
	}

	runNowN := o.Requests / 4
	getRunN := o.Requests - runNowN
	sqlN := runNowN
	rep.Machine = benchMachine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, ClockTicks: tick}
	rep.Options = benchOptionsJSON{Users: o.Users, Concurrency: o.Concurrency, Requests: o.Requests, RunNow: runNowN, GetRun: getRunN, Burst: o.Burst, Serial: o.Serial, Statements: sqlN, ColdStarts: o.ColdStarts}

	dir, err := os.MkdirTemp("", "flowbricks-bench-stack-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	log := o.HandlerLog
	if log == nil {
		log = io.Discard
	}
	// The production defaults: info level, JSON access lines.
	env := []string{config.EnvLogLevel + "=info"}
	var prof *benchprofile.Client
	if o.ProfileDir != "" {
		// The handler takes the port it is given: it must be chosen here, given up and taken
		// again by the child, as for the cold starts below.
		addr, err := freeLoopbackAddr()
		if err != nil {
			return rep, err
		}
		env = append(env, benchprofile.EnvAddr+"="+addr)
		prof = benchprofile.NewClient(addr)
		defer prof.Close()
	}
	progress("starting the stack with %d users", o.Users)
	s, err := stack.Start(ctx, stack.Options{
		Dir: dir, AppRoot: o.AppRoot, HandlerLog: log, Mutate: benchUsers(o.Users), Env: env,
	})
	if err != nil {
		return rep, err
	}
	defer func() {
		if cerr := s.Close(context.Background()); cerr != nil && err == nil {
			err = fmt.Errorf("stopping the stack: %w", cerr)
		}
	}()

	b := &benchRun{o: o, s: s, pid: s.Host.Pid(), handler: s.Host.HandlerURL(), ws: s.Info.DatabricksHost, tag: randomHex(6)}
	// The host's client to the handler (hoststandin): HTTP/1.1 keep-alive over loopback.
	b.fb = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: o.Concurrency, IdleConnTimeout: 90 * time.Second,
	}}
	// The handler's own transport to the workspace, trusting the stack's CA.
	b.direct = &http.Client{Timeout: 60 * time.Second, Transport: databricks.NewTransport(s.CA.Pool())}
	defer b.fb.CloseIdleConnections()
	defer b.direct.CloseIdleConnections()

	b.userAuth = make([]string, o.Users)
	b.oids = make([]string, o.Users)
	for i := range o.Users {
		tok, err := s.Entra.MintUserToken(benchUserName(i), fakeentra.MintOptions{TTL: time.Hour})
		if err != nil {
			return rep, err
		}
		b.userAuth[i] = "Bearer " + tok
		b.oids[i] = s.Fixture.Entra.Users[len(s.Fixture.Entra.Users)-o.Users+i].OID
	}

	cpu := func() (int64, error) { return procCPUTicks(b.pid) }
	perReq := func(ticks int64, n int) float64 {
		return float64(ticks) / float64(tick) / float64(n) * 1e6
	}
	// profile is the file name of a phase's CPU profile with --profile ("" = not profiled).
	phase := func(op, path, profile string, n, conc int, do func(context.Context, int) error) (benchRow, error) {
		progress("%s %s: %d requests, %d in flight", op, path, n, conc)
		ws0, disc0 := s.Workspace.Stats().RequestsTotal, s.Entra.Stats().DiscoveryRequests
		profile = b.profileName(profile)
		if profile != "" {
			// Started before and stopped after the CPU readings, so that the two profile
			// requests are not counted as the phase's; the profiler's own sampling is.
			if err := prof.StartCPU(ctx); err != nil {
				return benchRow{}, err
			}
		}
		c0, err := cpu()
		if err != nil {
			return benchRow{}, err
		}
		lat, elapsed, err := benchLoad(ctx, n, conc, do)
		if err != nil {
			return benchRow{}, fmt.Errorf("%s %s: %w", op, path, err)
		}
		c1, err := cpu()
		if err != nil {
			return benchRow{}, err
		}
		if profile != "" {
			if err := b.writeProfile(profile, func(w io.Writer) error { return prof.StopCPU(ctx, w) }); err != nil {
				return benchRow{}, err
			}
		}
		row := latencyRow(op, path, lat, elapsed)
		row.UpstreamPerRequest = float64(s.Workspace.Stats().RequestsTotal-ws0) / float64(n)
		row.Discovery = s.Entra.Stats().DiscoveryRequests - disc0
		if path == "flowbricks" {
			row.HandlerCPUMicros = perReq(c1-c0, n)
		}
		rep.Rows = append(rep.Rows, row)
		return row, nil
	}

	cpuStart, err := cpu()
	if err != nil {
		return rep, err
	}
	entra0, ws0 := s.Entra.Stats(), s.Workspace.Stats()

	// 1. Cold: every user's first requests, Burst of them at once per user.
	coldN := o.Users * o.Burst
	if _, err := phase("run-now (first request per user)", "flowbricks", "", coldN, o.Concurrency, func(ctx context.Context, i int) error {
		return b.flowbricksRunNow(ctx, i/o.Burst, "cold", i)
	}); err != nil {
		return rep, err
	}
	rep.Entra.AfterColdPhase = s.Entra.Stats().TokenRequests - entra0.TokenRequests

	// 2. The bench's own exchanges, for the direct path (counted apart from the handler's).
	progress("exchanging %d user tokens for the direct path", o.Users)
	// The handler is idle meanwhile, so what Entra serves now is the bench's own exchanger's.
	beforeOwn := s.Entra.Stats()
	if err := b.exchangeForDirect(ctx); err != nil {
		return rep, err
	}
	afterOwn := s.Entra.Stats()
	rep.Entra.BenchBaselineExchanges = afterOwn.TokenRequests - beforeOwn.TokenRequests
	rep.Entra.BenchBaselineDiscovery = afterOwn.DiscoveryRequests - beforeOwn.DiscoveryRequests
	rep.Entra.DatabricksTokenBytes = b.meanTokenBytes()
	// Connections of the direct client, as the handler's are after the cold phase.
	if _, _, err := benchLoad(ctx, min(coldN, 4*o.Concurrency), o.Concurrency, b.directGetRun); err != nil {
		return rep, fmt.Errorf("direct warm-up: %w", err)
	}

	// 3. Warm phases: direct first, then the same work through flowbricks.
	if name := b.profileName("heap-warm-start.pprof"); name != "" {
		if err := b.writeProfile(name, func(w io.Writer) error { return prof.Heap(ctx, w) }); err != nil {
			return rep, err
		}
	}
	directRN, err := phase("run-now", "direct", "", runNowN, o.Concurrency, b.directRunNow)
	if err != nil {
		return rep, err
	}
	fbRN, err := phase("run-now", "flowbricks", "cpu-run-now.pprof", runNowN, o.Concurrency, func(ctx context.Context, i int) error {
		return b.flowbricksRunNow(ctx, i%o.Users, "warm", i)
	})
	if err != nil {
		return rep, err
	}
	directGR, err := phase("get-run", "direct", "", getRunN, o.Concurrency, b.directGetRun)
	if err != nil {
		return rep, err
	}
	fbGR, err := phase("get-run", "flowbricks", "cpu-get-run.pprof", getRunN, o.Concurrency, b.flowbricksGetRun)
	if err != nil {
		return rep, err
	}
	rep.Added = []benchAdded{added("run-now", directRN, fbRN), added("get-run", directGR, fbGR)}
	// The same with one request in flight: no queueing for the CPUs, so the difference is the
	// time flowbricks itself adds to a call.
	if o.Serial > 0 {
		directS, err := phase(serialOp, "direct", "", o.Serial, 1, b.directGetRun)
		if err != nil {
			return rep, err
		}
		fbS, err := phase(serialOp, "flowbricks", "cpu-get-run-serial.pprof", o.Serial, 1, b.flowbricksGetRun)
		if err != nil {
			return rep, err
		}
		rep.Added = append(rep.Added, added(serialOp, directS, fbS))
	}
	// The SQL statement phase: a small statement, executed and answered with its rows in one
	// call (the warehouse runs, so the statement is over within Databricks' wait), so one
	// upstream request per statement on both paths, like get-run, and typed rows to build on the
	// flowbricks path. It runs last because the handler keeps one retry-memory entry per
	// statement (docs/sql.md, Retries): the peak memory before it is the job phases' own.
	hwmJobs, _, err := procMemory(b.pid)
	if err != nil {
		return rep, err
	}
	directSQL, err := phase(sqlOp, "direct", "", sqlN, o.Concurrency, b.directStatement)
	if err != nil {
		return rep, err
	}
	directRec := lastStatement(s.Workspace)
	fbSQL, err := phase(sqlOp, "flowbricks", "cpu-sql-statement.pprof", sqlN, o.Concurrency, b.flowbricksStatement)
	if err != nil {
		return rep, err
	}
	if err := sameStatementWork(directRec, lastStatement(s.Workspace)); err != nil {
		return rep, err
	}
	rep.Added = append(rep.Added, added(sqlOp, directSQL, fbSQL))
	if name := b.profileName("heap-warm-end.pprof"); name != "" {
		if err := b.writeProfile(name, func(w io.Writer) error { return prof.Heap(ctx, w) }); err != nil {
			return rep, err
		}
	}
	rep.Profiles = b.profiles

	// 4. The handler's totals.
	cpuEnd, err := cpu()
	if err != nil {
		return rep, err
	}
	hwm, rss, err := procMemory(b.pid)
	if err != nil {
		return rep, err
	}
	// VmHWM is not a stored maximum: the kernel reports the larger of the current RSS and a high
	// water mark it updates only now and then (on unmapping memory, for one), so a later reading
	// can be lower than an earlier one.
	hwm = max(hwm, hwmJobs)
	entra1, ws1 := s.Entra.Stats(), s.Workspace.Stats()
	fbRequests := coldN + runNowN + getRunN + o.Serial + sqlN
	rep.Handler = benchHandler{
		CPUSeconds: float64(cpuEnd-cpuStart) / float64(tick), Requests: fbRequests,
		PeakRSSMB: float64(hwm) / 1024, PeakRSSBeforeSQLMB: float64(hwmJobs) / 1024, FinalRSSMB: float64(rss) / 1024, DistinctIDs: o.Users,
	}
	rep.Entra.DistinctUserTokens = o.Users
	rep.Entra.HandlerTokenRequests = entra1.TokenRequests - entra0.TokenRequests - rep.Entra.BenchBaselineExchanges
	rep.Entra.HandlerOBORequests = entra1.OBORequests - entra0.OBORequests - rep.Entra.BenchBaselineExchanges
	rep.Entra.HandlerDiscovery = entra1.DiscoveryRequests - entra0.DiscoveryRequests - rep.Entra.BenchBaselineDiscovery
	rep.Entra.HandlerJWKS = entra1.JWKSRequests - entra0.JWKSRequests
	for _, r := range rep.Rows {
		n := int64(r.UpstreamPerRequest*float64(r.Requests) + 0.5)
		if r.Path == "flowbricks" {
			rep.Workspace.HandlerRequests += n
		} else {
			rep.Workspace.DirectRequests += n
		}
	}
	rep.Workspace.HostMetadata = ws1.WellKnown - ws0.WellKnown
	rep.Workspace.StatementsExecuted = ws1.StatementsExecuted - ws0.StatementsExecuted
	rep.Workspace.Errors = (ws1.Unauthorized - ws0.Unauthorized) + (ws1.Forbidden - ws0.Forbidden) + (ws1.FaultsServed - ws0.FaultsServed)

	// 5. Cold starts: the same binary and settings, started directly on a free port. The stack is
	// idle; the handler makes no network call before it answers.
	exe, err := stack.ExecutablePath(o.AppRoot)
	if err != nil {
		return rep, err
	}
	coldEnv := append(os.Environ(), benchHandlerEnv(s)...)
	progress("cold start: %d launches", o.ColdStarts)
	samples, err := measureColdStarts(ctx, exe, o.AppRoot, coldEnv, o.ColdStarts)
	if err != nil {
		return rep, err
	}
	rep.ColdStart = coldStartSummary(samples)
	rep.Targets = benchTargets(rep)
	rep.Seconds = time.Since(started).Seconds()
	return rep, nil
}

// benchHandlerEnv is the handler's environment in the stack (what startStack gives it).
func benchHandlerEnv(s *stack.Stack) []string {
	return []string{
		config.EnvTenantID + "=" + s.Fixture.Entra.TenantID,
		config.EnvClientID + "=" + s.Fixture.Entra.API.ClientID,
		config.EnvClientSecret + "=" + s.Fixture.Entra.API.ClientSecret,
		config.EnvAuthorityHost + "=" + s.Info.Authority + "/",
		config.EnvDatabricksHost + "=" + s.Info.DatabricksHost,
		config.EnvPublicURL + "=" + s.Info.HandlerURL,
		config.EnvLogLevel + "=info",
		config.EnvLogFormat + "=json",
		"SSL_CERT_FILE=" + s.Info.CAFile,
	}
}

// exchangeForDirect gets each user's Databricks token On-Behalf-Of, with the handler's own
// exchange code and settings (the fake issues a fresh token per exchange, so the bytes differ
// from the handler's token for the same user, but the user, claims, size and cost to verify are
// the same).
func (b *benchRun) exchangeForDirect(ctx context.Context) error {
	fx := b.s.Fixture.Entra
	x, err := entra.NewExchanger(entra.ExchangerOptions{
		AuthorityHost: b.s.Info.Authority + "/",
		TenantID:      fx.TenantID,
		ClientID:      fx.API.ClientID,
		Credential:    entra.CredentialOptions{ClientSecret: entra.Token(fx.API.ClientSecret)},
		Scope:         azure.DatabricksScope,
		HTTPClient:    &http.Client{Timeout: 30 * time.Second, Transport: entra.NewTransport(b.s.CA.Pool())},
		CacheSize:     b.o.Users,
	})
	if err != nil {
		return err
	}
	b.dbxAuth = make([]string, b.o.Users)
	_, _, err = benchLoad(ctx, b.o.Users, b.o.Concurrency, func(ctx context.Context, i int) error {
		p := entra.Principal{Kind: entra.User, ObjectID: b.oids[i], TenantID: fx.TenantID}
		tok, _, err := x.TokenFor(ctx, p, entra.Token(strings.TrimPrefix(b.userAuth[i], "Bearer ")))
		if err != nil {
			return err
		}
		b.dbxAuth[i] = "Bearer " + tok.Reveal()
		return nil
	})
	return err
}

// meanTokenBytes is the mean size of the Databricks tokens (what one cache entry holds).
func (b *benchRun) meanTokenBytes() int {
	total := 0
	for _, a := range b.dbxAuth {
		total += len(a) - len("Bearer ")
	}
	return total / max(1, len(b.dbxAuth))
}

func (b *benchRun) addRun(id int64) {
	b.mu.Lock()
	b.runIDs = append(b.runIDs, id)
	b.mu.Unlock()
}

func (b *benchRun) runFor(i int) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runIDs[i%len(b.runIDs)]
}

// flowHeaders are what Logic Apps and Power Automate send with every action; a new workflow run
// per request, so each run-now starts its own run.
func (b *benchRun) flowHeaders(req *http.Request, phase string, i int, action string) {
	req.Header.Set("x-ms-workflow-run-id", b.workflowRunID(phase, i))
	req.Header.Set("x-ms-workflow-operation-name", action)
	req.Header.Set("x-ms-action-tracking-id", fmt.Sprintf("%s-%s-%d", b.tag, phase, i))
}

func (b *benchRun) workflowRunID(phase string, i int) string {
	return fmt.Sprintf("0858%s%s%08d", b.tag, phase, i)
}

func (b *benchRun) flowbricksRunNow(ctx context.Context, user int, phase string, i int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.handler+"/api/jobs/run-now", strings.NewReader(`{"job_id": `+strconv.Itoa(benchJobID)+`}`))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", b.userAuth[user])
	req.Header.Set("Content-Type", "application/json")
	b.flowHeaders(req, phase, i, "Run_Databricks_job")
	var out struct {
		RunID int64  `json:"run_id"`
		State string `json:"state"`
	}
	if err := benchDo(b.fb, req, &out); err != nil {
		return err
	}
	if out.RunID == 0 || out.State == "" || out.State == "UNKNOWN" {
		return fmt.Errorf("run-now answered run %d in state %q", out.RunID, out.State)
	}
	b.addRun(out.RunID)
	return nil
}

func (b *benchRun) flowbricksGetRun(ctx context.Context, i int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.handler+"/api/jobs/runs/"+strconv.FormatInt(b.runFor(i), 10), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", b.userAuth[i%b.o.Users])
	b.flowHeaders(req, "poll", i, "Get_run_status")
	return benchDo(b.fb, req, nil)
}

// directPost is a JSON POST of user i straight to the workspace, as the handler sends it.
func (b *benchRun) directPost(ctx context.Context, i int, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.ws+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", b.dbxAuth[i%b.o.Users])
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// directRunNow is flowbricks' upstream work for one run-now: jobs/run-now, then jobs/runs/get.
func (b *benchRun) directRunNow(ctx context.Context, i int) error {
	body := fmt.Sprintf(`{"job_id":%d,"idempotency_token":"bench-%s-%d"}`, benchJobID, b.tag, i)
	req, err := b.directPost(ctx, i, fakeworkspace.PathRunNow, []byte(body))
	if err != nil {
		return err
	}
	var out struct {
		RunID int64 `json:"run_id"`
	}
	if err := benchDo(b.direct, req, &out); err != nil {
		return err
	}
	if out.RunID == 0 {
		return errors.New("run-now answered no run_id")
	}
	b.addRun(out.RunID)
	return b.directGetRunOf(ctx, i, out.RunID)
}

func (b *benchRun) directGetRun(ctx context.Context, i int) error {
	return b.directGetRunOf(ctx, i, b.runFor(i))
}

func (b *benchRun) directGetRunOf(ctx context.Context, i int, runID int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.ws+fakeworkspace.PathRunsGet+"?run_id="+strconv.FormatInt(runID, 10), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", b.dbxAuth[i%b.o.Users])
	req.Header.Set("Accept", "application/json")
	return benchDo(b.direct, req, nil)
}

// flowbricksStatement runs the bench's statement through flowbricks as a flow would: free SQL
// with a typed parameter, the warehouse by id, the workflow headers (a new workflow run each, so
// the retry memory executes every one), and checks that the rows came back.
func (b *benchRun) flowbricksStatement(ctx context.Context, i int) error {
	body := `{"statement": "` + benchStatement + `", "warehouse_id": "` + benchWarehouseID + `", "parameters": [{"name": "active", "value": true, "type": "BOOLEAN"}]}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.handler+"/api/sql/statements", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", b.userAuth[i%b.o.Users])
	req.Header.Set("Content-Type", "application/json")
	b.flowHeaders(req, "sql", i, benchSQLAction)
	var out struct {
		State    string            `json:"state"`
		RowCount int               `json:"row_count"`
		Rows     []json.RawMessage `json:"rows"`
	}
	if err := benchDo(b.fb, req, &out); err != nil {
		return err
	}
	if out.State != databricks.StatementSucceeded || out.RowCount != benchStatementRows || len(out.Rows) != benchStatementRows {
		return fmt.Errorf("the statement answered %s with %d rows (%d in rows), want %s with %d", out.State, out.RowCount, len(out.Rows), databricks.StatementSucceeded, benchStatementRows)
	}
	return nil
}

// benchSQLAction is the flow action name the SQL phase's requests carry.
const benchSQLAction = "Run_SQL_statement"

// directStatementRequest is the body flowbricks sends to execute a statement (the Statement
// Execution API's ExecuteStatementRequest, as internal/databricks fills it with the handler's
// defaults: the configured row and byte limits, Databricks' 10 s wait), so that the direct path
// does the same upstream work; bench checks it after the phases (sameStatementWork).
type directStatementRequest struct {
	WarehouseID   string                 `json:"warehouse_id"`
	Statement     string                 `json:"statement"`
	Parameters    []directStatementParam `json:"parameters"`
	RowLimit      int64                  `json:"row_limit"`
	ByteLimit     int64                  `json:"byte_limit"`
	Disposition   string                 `json:"disposition"`
	Format        string                 `json:"format"`
	WaitTimeout   string                 `json:"wait_timeout"`
	OnWaitTimeout string                 `json:"on_wait_timeout"`
	QueryTags     []directQueryTag       `json:"query_tags"`
}

type directStatementParam struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

type directQueryTag struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// directStatement is flowbricks' upstream work for one statement: one execute that waits for the
// result.
func (b *benchRun) directStatement(ctx context.Context, i int) error {
	body, err := json.Marshal(directStatementRequest{
		WarehouseID: benchWarehouseID, Statement: benchStatement,
		Parameters: []directStatementParam{{Name: "active", Type: "BOOLEAN", Value: "true"}},
		RowLimit:   config.DefaultSQLMaxRows, ByteLimit: config.DefaultSQLMaxBytes,
		Disposition: "INLINE", Format: "JSON_ARRAY", WaitTimeout: "10s", OnWaitTimeout: "CONTINUE",
		QueryTags: []directQueryTag{{Key: "flowbricks"},
			{Key: "flowbricks_workflow_run", Value: b.workflowRunID("sql-direct", i)},
			{Key: "flowbricks_action", Value: benchSQLAction}},
	})
	if err != nil {
		return err
	}
	req, err := b.directPost(ctx, i, fakeworkspace.PathStatements, body)
	if err != nil {
		return err
	}
	var out struct {
		Status struct {
			State string `json:"state"`
		} `json:"status"`
		Result struct {
			RowCount  int         `json:"row_count"`
			DataArray [][]*string `json:"data_array"`
		} `json:"result"`
	}
	if err := benchDo(b.direct, req, &out); err != nil {
		return err
	}
	if out.Status.State != databricks.StatementSucceeded || out.Result.RowCount != benchStatementRows || len(out.Result.DataArray) != benchStatementRows {
		return fmt.Errorf("the statement answered %s with %d rows, want %s with %d", out.Status.State, out.Result.RowCount, databricks.StatementSucceeded, benchStatementRows)
	}
	return nil
}

// lastStatement is the statement the workspace received last (zero if none).
func lastStatement(ws *fakeworkspace.Server) fakeworkspace.StatementRecord {
	recs := ws.Statements()
	if len(recs) == 0 {
		return fakeworkspace.StatementRecord{}
	}
	return recs[len(recs)-1]
}

// sameStatementWork checks that the direct path sent the workspace the statement flowbricks sent:
// the same text, parameters, limits, wait and query tag keys (tag values name each request's
// workflow run). Otherwise the two paths would measure different upstream work, and the
// comparison would mean nothing.
func sameStatementWork(direct, fb fakeworkspace.StatementRecord) error {
	type work struct {
		Warehouse, Statement, Catalog, Schema string
		Parameters                            []fakeworkspace.StatementParam
		RowLimit, ByteLimit                   int64
		WaitTimeout, OnWaitTimeout            string
		TagKeys                               []string
	}
	of := func(r fakeworkspace.StatementRecord) work {
		w := work{Warehouse: r.WarehouseID, Statement: r.Statement, Catalog: r.Catalog, Schema: r.Schema, Parameters: r.Parameters,
			RowLimit: r.RowLimit, ByteLimit: r.ByteLimit, WaitTimeout: r.WaitTimeout, OnWaitTimeout: r.OnWaitTimeout}
		for _, t := range r.QueryTags {
			w.TagKeys = append(w.TagKeys, t.Key)
		}
		return w
	}
	d, f := of(direct), of(fb)
	dj, _ := json.Marshal(d)
	fj, _ := json.Marshal(f)
	if direct.ID == "" || fb.ID == "" || direct.ID == fb.ID || !bytes.Equal(dj, fj) {
		return fmt.Errorf("the direct SQL path does not send what flowbricks sends, so they cannot be compared: direct %s, flowbricks %s", dj, fj)
	}
	return nil
}

// benchDo sends req, insists on 200 and decodes the body into out (if not nil). The body is
// always read to the end so the connection is reused.
func benchDo(c *http.Client, req *http.Request, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s answered %d: %.200s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// benchLoad runs do(ctx, 0..n-1) on conc workers and returns each request's latency (indexed by
// i) and the wall time. The first error stops the phase.
func benchLoad(ctx context.Context, n, conc int, do func(context.Context, int) error) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := do(ctx, i); err != nil {
					cancel(fmt.Errorf("request %d: %w", i, err))
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return nil, 0, err
	}
	return lat, elapsed, nil
}

func latencyRow(op, path string, lat []time.Duration, elapsed time.Duration) benchRow {
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	return benchRow{
		Operation: op, Path: path, Requests: len(lat), Seconds: round(elapsed.Seconds(), 3),
		PerSecond: round(float64(len(lat))/elapsed.Seconds(), 0),
		P50Millis: millis(percentile(sorted, 50)), P95Millis: millis(percentile(sorted, 95)), P99Millis: millis(percentile(sorted, 99)),
	}
}

// percentile of sorted values, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

func added(op string, direct, fb benchRow) benchAdded {
	return benchAdded{
		Operation: op,
		P50Millis: round(fb.P50Millis-direct.P50Millis, 3), P95Millis: round(fb.P95Millis-direct.P95Millis, 3), P99Millis: round(fb.P99Millis-direct.P99Millis, 3),
		PerSecondChange: round(fb.PerSecond/direct.PerSecond-1, 3),
	}
}

func millis(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if x < 0 {
		return -float64(int64(-x*p+0.5)) / p
	}
	return float64(int64(x*p+0.5)) / p
}

// measureColdStarts starts the handler n times, each on a free port, and measures from just
// before exec until the first 200 answer to GET / (what the Functions host waits for), polling
// every coldStartPoll. Each process is stopped (SIGTERM, then SIGKILL) before the next starts.
func measureColdStarts(ctx context.Context, exe, dir string, env []string, n int) ([]time.Duration, error) {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	out := make([]time.Duration, 0, n)
	for i := range n {
		// The handler binary listens on the port its environment names, so this one port has to
		// be chosen, given up and taken again by the child (as the Functions host does it).
		addr, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		_, port, _ := net.SplitHostPort(addr)
		d, err := coldStart(ctx, client, exe, dir, append(slices.Clip(env), config.EnvPort+"="+port), "http://"+addr+"/")
		if err != nil {
			return nil, fmt.Errorf("cold start %d: %w", i+1, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func coldStart(ctx context.Context, client *http.Client, exe, dir string, env []string, url string) (time.Duration, error) {
	cmd := exec.Command(exe)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			return nil
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
			}
			return errors.New("the handler did not stop on SIGTERM within 10s")
		}
	}
	deadline := start.Add(coldStartTimeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			_ = stop()
			return 0, err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				d := time.Since(start)
				return d, stop()
			}
		}
		select {
		case err := <-exited:
			return 0, fmt.Errorf("the handler exited before answering: %v", err)
		case <-ctx.Done():
			_ = stop()
			return 0, ctx.Err()
		case <-time.After(coldStartPoll):
		}
		if time.Now().After(deadline) {
			_ = stop()
			return 0, fmt.Errorf("no answer on GET / within %v", coldStartTimeout)
		}
	}
}

func coldStartSummary(samples []time.Duration) benchColdStart {
	c := benchColdStart{Launches: len(samples), Samples: make([]float64, len(samples))}
	if len(samples) == 0 {
		return c
	}
	for i, d := range samples {
		c.Samples[i] = millis(d)
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	mid := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		mid = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	c.MedianMillis, c.MinMillis, c.MaxMillis = millis(mid), millis(sorted[0]), millis(sorted[len(sorted)-1])
	return c
}

// benchTargets compares the report with the targets (docs/performance.md, Summary). A target
// whose phase did not run (--serial 0, --cold-starts 0) is left out.
func benchTargets(rep benchReport) []benchTarget {
	row := func(op string) (benchRow, bool) {
		for _, r := range rep.Rows {
			if r.Operation == op && r.Path == "flowbricks" {
				return r, true
			}
		}
		return benchRow{}, false
	}
	cpu := func(op string, target float64) benchTarget {
		r, _ := row(op)
		return benchTarget{Name: "handler CPU per warm " + op, Target: fmt.Sprintf("<= %.0f µs", target),
			Value: r.HandlerCPUMicros, Met: r.HandlerCPUMicros <= target, Measured: fmt.Sprintf("%.0f µs", r.HandlerCPUMicros)}
	}
	ts := []benchTarget{cpu("get-run", targetCPUPerGetRunMicros), cpu("run-now", targetCPUPerRunNowMicros), cpu(sqlOp, targetCPUPerStatementMicros)}
	for _, a := range rep.Added {
		if a.Operation != serialOp {
			continue
		}
		ts = append(ts,
			benchTarget{Name: "added p50 latency, " + serialOp, Target: fmt.Sprintf("<= %.1f ms", targetAddedP50Millis),
				Value: a.P50Millis, Met: a.P50Millis <= targetAddedP50Millis, Measured: fmt.Sprintf("%+.2f ms", a.P50Millis)},
			benchTarget{Name: "added p99 latency, " + serialOp, Target: fmt.Sprintf("<= %.1f ms", targetAddedP99Millis),
				Value: a.P99Millis, Met: a.P99Millis <= targetAddedP99Millis, Measured: fmt.Sprintf("%+.2f ms", a.P99Millis)})
	}
	if len(rep.Rows) > 0 {
		cold := rep.Rows[0]
		ts = append(ts, benchTarget{Name: "discovery fetches in the cold burst", Target: fmt.Sprintf("<= %d", targetColdDiscovery),
			Value: float64(cold.Discovery), Met: cold.Discovery <= targetColdDiscovery, Measured: strconv.FormatInt(cold.Discovery, 10)})
	}
	ts = append(ts,
		benchTarget{Name: "Entra token requests = distinct user tokens", Target: strconv.Itoa(rep.Entra.DistinctUserTokens),
			Value: float64(rep.Entra.HandlerTokenRequests), Met: rep.Entra.HandlerTokenRequests == int64(rep.Entra.DistinctUserTokens), Measured: strconv.FormatInt(rep.Entra.HandlerTokenRequests, 10)},
		benchTarget{Name: "peak RSS", Target: fmt.Sprintf("<= %d MB", targetPeakRSSMB),
			Value: rep.Handler.PeakRSSMB, Met: rep.Handler.PeakRSSMB <= targetPeakRSSMB, Measured: fmt.Sprintf("%.1f MB after %d requests from %d users", rep.Handler.PeakRSSMB, rep.Handler.Requests, rep.Handler.DistinctIDs)})
	if rep.ColdStart.Launches > 0 {
		ts = append(ts, benchTarget{Name: "cold start median", Target: fmt.Sprintf("<= %d ms", targetColdStartMillis),
			Value: rep.ColdStart.MedianMillis, Met: rep.ColdStart.MedianMillis <= targetColdStartMillis, Measured: fmt.Sprintf("%.1f ms", rep.ColdStart.MedianMillis)})
	}
	return ts
}

func printBenchReport(w io.Writer, r benchReport) {
	fmt.Fprintf(w, "flowbricks bench: %d users, concurrency %d; per path %d run-now + %d get-run (+ %d get-run one at a time) + %d SQL statements (%d rows each), after %d cold first requests (%d per user at once)\n",
		r.Options.Users, r.Options.Concurrency, r.Options.RunNow, r.Options.GetRun, r.Options.Serial, r.Options.Statements, benchStatementRows, r.Options.Users*r.Options.Burst, r.Options.Burst)
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s %s; load generator, fakes and handler share these CPUs\n\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.OS)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tpath\trequests\treq/s\tp50 ms\tp95 ms\tp99 ms\thandler CPU µs/req\tupstream calls/req\tEntra discovery\t")
	for _, row := range r.Rows {
		cpu := "-"
		if row.Path == "flowbricks" {
			cpu = fmt.Sprintf("%.0f", row.HandlerCPUMicros)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%.2f\t%d\t\n", row.Operation, row.Path, row.Requests, row.PerSecond,
			row.P50Millis, row.P95Millis, row.P99Millis, cpu, row.UpstreamPerRequest, row.Discovery)
	}
	for _, a := range r.Added {
		fmt.Fprintf(tw, "%s\tadded by flowbricks\t\t%+.0f%%\t%+.2f\t%+.2f\t%+.2f\t\t\t\t\n", a.Operation, a.PerSecondChange*100, a.P50Millis, a.P95Millis, a.P99Millis)
	}
	tw.Flush()

	fmt.Fprintln(w)
	fmt.Fprintf(w, "handler process: peak RSS (VmHWM) %.1f MB (%.1f MB before the SQL phase), RSS at the end %.1f MB; CPU %.2f s for %d requests (/proc/<pid>/stat, %d ticks/s)\n",
		r.Handler.PeakRSSMB, r.Handler.PeakRSSBeforeSQLMB, r.Handler.FinalRSSMB, r.Handler.CPUSeconds, r.Handler.Requests, r.Machine.ClockTicks)
	fmt.Fprintf(w, "Entra ID: %d token requests from the handler (%d On-Behalf-Of, %d after the cold phase) for %d distinct user tokens; discovery %d, JWKS %d; the bench's own exchanges for the direct path: %d (discovery %d); Databricks tokens of %d bytes\n",
		r.Entra.HandlerTokenRequests, r.Entra.HandlerOBORequests, r.Entra.AfterColdPhase, r.Entra.DistinctUserTokens, r.Entra.HandlerDiscovery, r.Entra.HandlerJWKS, r.Entra.BenchBaselineExchanges, r.Entra.BenchBaselineDiscovery, r.Entra.DatabricksTokenBytes)
	fmt.Fprintf(w, "workspace: %d requests from the handler, %d direct; SQL statements executed %d; host-metadata calls %d; 401/403/fault answers %d\n",
		r.Workspace.HandlerRequests, r.Workspace.DirectRequests, r.Workspace.StatementsExecuted, r.Workspace.HostMetadata, r.Workspace.Errors)
	if r.ColdStart.Launches > 0 {
		fmt.Fprintf(w, "cold start (exec → first 200 on GET /): %d launches, median %.1f ms, min %.1f ms, max %.1f ms\n",
			r.ColdStart.Launches, r.ColdStart.MedianMillis, r.ColdStart.MinMillis, r.ColdStart.MaxMillis)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\twanted\tmeasured\t")
	for _, t := range r.Targets {
		verdict := "met"
		if !t.Met {
			verdict = "MISSED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Target, t.Measured, verdict)
	}
	tw.Flush()
	if len(r.Profiles) > 0 {
		// The CPU figures of profiled phases include the profiler's own sampling (100 Hz).
		fmt.Fprintf(w, "\nprofiles (the profiled phases' CPU figures include the profiler's sampling):\n")
		for _, p := range r.Profiles {
			fmt.Fprintf(w, "  %s\n", p)
		}
		fmt.Fprintln(w, "read them with: go tool pprof -top <cpu-*.pprof>; what the warm phases allocated: go tool pprof -sample_index=alloc_space -top -base heap-warm-start.pprof heap-warm-end.pprof")
	}
	fmt.Fprintf(w, "\n(%.1f s)\n", r.Seconds)
}

// procCPUTicks returns utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14
// and 15).
func procCPUTicks(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("the CPU figures need Linux /proc: %w", err)
	}
	// The command name (field 2) is in parentheses and may contain spaces: fields are counted
	// after its closing parenthesis, which starts with field 3.
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return 0, errors.New("unexpected /proc/<pid>/stat format")
	}
	f := strings.Fields(string(raw[end+1:]))
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/<pid>/stat format")
	}
	utime, err1 := strconv.ParseInt(f[14-3], 10, 64)
	stime, err2 := strconv.ParseInt(f[15-3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return utime + stime, nil
}

// procMemory returns VmHWM (peak resident set) and VmRSS of a process in kB.
func procMemory(pid int) (hwm, rss int64, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("the memory figures need Linux /proc: %w", err)
	}
	for line := range strings.Lines(string(raw)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmHWM" && name != "VmRSS") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
		if name == "VmHWM" {
			hwm = n
		} else {
			rss = n
		}
	}
	if hwm == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
	}
	return hwm, rss, nil
}

// clockTicks is the unit of /proc/<pid>/stat's CPU times (sysconf(_SC_CLK_TCK), USER_HZ). The
// kernel passes it to every process in the auxiliary vector as AT_CLKTCK; reading it there avoids
// cgo. It is 100 on every mainstream Linux, the fallback if the vector cannot be read.
func clockTicks() (int, error) {
	if runtime.GOOS != "linux" {
		return 0, errors.New("bench measures the handler through Linux /proc; run it on Linux")
	}
	raw, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100, nil
	}
	if hz, ok := auxvClockTicks(raw, strconv.IntSize/8); ok {
		return hz, nil
	}
	return 100, nil
}

// auxvClockTicks finds AT_CLKTCK in an auxiliary vector of (key, value) words of word bytes.
func auxvClockTicks(raw []byte, word int) (int, bool) {
	const atClkTck = 17
	for i := 0; i+2*word <= len(raw); i += 2 * word {
		var k, v uint64
		if word == 8 {
			k, v = binary.NativeEndian.Uint64(raw[i:]), binary.NativeEndian.Uint64(raw[i+word:])
		} else {
			k, v = uint64(binary.NativeEndian.Uint32(raw[i:])), uint64(binary.NativeEndian.Uint32(raw[i+word:]))
		}
		if k == atClkTck && v > 0 && v < 1_000_000 {
			return int(v), true
		}
		if k == 0 {
			break
		}
	}
	return 0, false
}

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(raw)) {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown CPU"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
