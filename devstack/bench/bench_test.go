package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	"github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/internal/benchprofile"
	"github.com/flowbricks/flowbricks/internal/testsupport"
)

// repoRoot is the repository; appRoot a copy of its Functions app with the handler built once for
// the package's tests (with go test's settings, so from the build cache), with the profile
// endpoint compiled in, as `devstack bench --profile` builds it.
var repoRoot, appRoot string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "flowbricks-bench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	appRoot = filepath.Join(dir, "app")
	if err := stack.CopyApp(repoRoot, appRoot); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := stack.BuildHandler(context.Background(), repoRoot, appRoot, benchprofile.BuildTag); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// A tiny bench run: the whole measurement (stack, every phase, cold starts) works and reports
// what it must. It asserts what the bench counts — never how fast anything was.
func TestBenchSmoke(t *testing.T) {
	const users = 3
	profiles := t.TempDir()
	o := benchOptions{
		Users: users, Concurrency: 2, Requests: 8, Burst: 2, Serial: 4, ColdStarts: 2,
		Timeout: time.Hour, AppRoot: appRoot, HandlerLog: io.Discard, ProfileDir: profiles,
	}
	// Bounded by the test's deadline, not by a figure a loaded machine can exceed.
	rep, err := bench(testsupport.Context(t), o)
	if err != nil {
		t.Fatalf("bench: %v", err)
	}

	// One row per phase, in order, with the requested counts.
	want := []struct {
		op, path      string
		n             int
		upstreamPerRq float64 // workspace requests per request: run-now also reads the run back
	}{
		{"run-now (first request per user)", "flowbricks", users * 2, 2},
		{"run-now", "direct", 2, 2},
		{"run-now", "flowbricks", 2, 2},
		{"get-run", "direct", 6, 1},
		{"get-run", "flowbricks", 6, 1},
		{serialOp, "direct", 4, 1},
		{serialOp, "flowbricks", 4, 1},
		{sqlOp, "direct", 2, 1},
		{sqlOp, "flowbricks", 2, 1},
	}
	if len(rep.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rep.Rows), len(want), rep.Rows)
	}
	for i, w := range want {
		r := rep.Rows[i]
		if r.Operation != w.op || r.Path != w.path || r.Requests != w.n {
			t.Errorf("row %d = %s/%s/%d, want %s/%s/%d", i, r.Operation, r.Path, r.Requests, w.op, w.path, w.n)
		}
		if r.UpstreamPerRequest != w.upstreamPerRq {
			t.Errorf("row %d (%s %s): %.2f workspace requests per request, want %.0f", i, r.Operation, r.Path, r.UpstreamPerRequest, w.upstreamPerRq)
		}
		if !(r.P50Millis > 0 && r.P50Millis <= r.P95Millis && r.P95Millis <= r.P99Millis && r.PerSecond > 0) {
			t.Errorf("row %d: percentiles or rate inconsistent: %+v", i, r)
		}
		if r.Path == "direct" && r.HandlerCPUMicros != 0 {
			t.Errorf("row %d: a direct row has handler CPU %v", i, r.HandlerCPUMicros)
		}
		// Discovery documents are fetched in the cold phase only, once per document whatever
		// the burst (the validator and the exchanger share them: docs/performance.md).
		if i == 0 && (r.Discovery < 1 || r.Discovery > 2) {
			t.Errorf("cold phase: %d discovery requests, want 1 or 2", r.Discovery)
		}
		if i > 0 && r.Discovery != 0 {
			t.Errorf("row %d (%s %s): %d discovery requests, want none after the cold phase", i, r.Operation, r.Path, r.Discovery)
		}
	}
	if len(rep.Added) != 4 || rep.Added[0].Operation != "run-now" || rep.Added[1].Operation != "get-run" || rep.Added[2].Operation != serialOp || rep.Added[3].Operation != sqlOp {
		t.Errorf("added = %+v", rep.Added)
	}

	// Upstream counters: one OBO exchange per user token, whatever the burst; nothing else.
	if rep.Entra.HandlerTokenRequests != users || rep.Entra.HandlerOBORequests != users || rep.Entra.AfterColdPhase != users {
		t.Errorf("Entra: %+v, want %d token requests from the handler", rep.Entra, users)
	}
	if rep.Entra.BenchBaselineExchanges != users || rep.Entra.DistinctUserTokens != users {
		t.Errorf("Entra: %+v", rep.Entra)
	}
	// The bench's own exchanger fetches its own discovery documents; they are not the handler's.
	if rep.Entra.BenchBaselineDiscovery < 1 || rep.Entra.HandlerDiscovery != rep.Rows[0].Discovery {
		t.Errorf("Entra discovery: handler %d (cold phase %d), bench's own %d", rep.Entra.HandlerDiscovery, rep.Rows[0].Discovery, rep.Entra.BenchBaselineDiscovery)
	}
	wantHandler := int64(users*2*2 + 2*2 + 6 + 4 + 2)
	if rep.Workspace.HandlerRequests != wantHandler || rep.Workspace.HostMetadata != 0 || rep.Workspace.Errors != 0 {
		t.Errorf("workspace: %+v, want %d requests from the handler and no host-metadata call", rep.Workspace, wantHandler)
	}
	// Every SQL request executed exactly one statement (each answered 200 with its rows, or the
	// bench would have failed): 2 per path, none replayed, none repeated.
	if rep.Options.Statements != 2 || rep.Workspace.StatementsExecuted != 2*2 {
		t.Errorf("SQL: %d statements per path, %d executed; want 2 and 4", rep.Options.Statements, rep.Workspace.StatementsExecuted)
	}
	if rep.Handler.Requests != users*2+2+6+4+2 || rep.Handler.PeakRSSMB <= 0 || rep.Handler.PeakRSSBeforeSQLMB <= 0 || rep.Handler.PeakRSSBeforeSQLMB > rep.Handler.PeakRSSMB || rep.Handler.CPUSeconds < 0 {
		t.Errorf("handler: %+v", rep.Handler)
	}
	if rep.ColdStart.Launches != 2 || len(rep.ColdStart.Samples) != 2 || rep.ColdStart.MedianMillis <= 0 || rep.ColdStart.MaxMillis < rep.ColdStart.MedianMillis {
		t.Errorf("cold start: %+v", rep.ColdStart)
	}
	names := map[string]bool{}
	for _, tg := range rep.Targets {
		names[tg.Name] = true
	}
	for _, n := range []string{"handler CPU per warm get-run", "handler CPU per warm run-now", "handler CPU per warm sql-statement", "added p50 latency, get-run, 1 in flight",
		"added p99 latency, get-run, 1 in flight", "discovery fetches in the cold burst", "Entra token requests = distinct user tokens",
		"peak RSS", "cold start median"} {
		if !names[n] {
			t.Errorf("no target %q in %+v", n, rep.Targets)
		}
	}

	// --profile: a CPU profile per warm flowbricks phase and the heap before and after them, each
	// a profile runtime/pprof wrote (gzip-compressed).
	var wantProfiles []string
	for _, f := range []string{"heap-warm-start.pprof", "cpu-run-now.pprof", "cpu-get-run.pprof", "cpu-get-run-serial.pprof", "cpu-sql-statement.pprof", "heap-warm-end.pprof"} {
		wantProfiles = append(wantProfiles, filepath.Join(profiles, f))
	}
	if !slices.Equal(rep.Profiles, wantProfiles) {
		t.Errorf("profiles = %q, want %q", rep.Profiles, wantProfiles)
	}
	for _, p := range wantProfiles {
		if b, err := os.ReadFile(p); err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("%s: %v, %d bytes, not a pprof profile", p, err, len(b))
		}
	}

	// The table names every phase and figure.
	var out bytes.Buffer
	printBenchReport(&out, rep)
	for _, s := range []string{"run-now (first request per user)", "get-run, 1 in flight", "added by flowbricks", "handler CPU µs/req",
		"peak RSS (VmHWM)", "before the SQL phase", "token requests from the handler", "host-metadata calls 0", "cold start (exec → first 200 on GET /): 2 launches",
		"Entra discovery", "cpu-get-run.pprof", "sql-statement", "SQL statements executed 4"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}

	// --out writes the same figures as JSON.
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := writeReport(path, rep); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"machine", "options", "rows", "added", "handler", "entra", "workspace", "cold_start", "targets"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON has no %q", k)
		}
	}
	if ws, _ := back["workspace"].(map[string]any); ws["statements_executed"] != float64(4) {
		t.Errorf("JSON workspace: %v", ws)
	}
	if rows, _ := back["rows"].([]any); len(rows) != len(want) {
		t.Errorf("JSON rows: %d", len(rows))
	} else if row, _ := rows[4].(map[string]any); row["handler_cpu_us_per_request"] == nil || row["p99_ms"] == nil || row["entra_discovery_requests"] == nil {
		t.Errorf("JSON row lacks fields: %v", row)
	}
}

// Bad flags are refused before anything is built or started.
func TestBenchRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--users", "0"}, {"--concurrency", "0"}, {"--requests", "3"}, {"--burst", "0"},
		{"--cold-starts", "-1"}, {"--serial", "-1"}, {"--timeout", "0s"}, {"extra"},
	} {
		var stderr bytes.Buffer
		if err := Run(context.Background(), args, repoRoot, &stderr, &stderr); err == nil {
			t.Errorf("Run(%q) succeeded", args)
		}
		if strings.Contains(stderr.String(), "building the handler") {
			t.Errorf("Run(%q) built the handler before checking its flags", args)
		}
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var d []time.Duration
		for _, x := range n {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	sorted := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 5 * time.Millisecond}, {95, 10 * time.Millisecond}, {99, 10 * time.Millisecond}, {10, time.Millisecond}} {
		if got := percentile(sorted, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestProcReadersSeeThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := procCPUTicks(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	hwm, rss, err := procMemory(os.Getpid())
	if err != nil || hwm <= 0 || rss <= 0 || rss > hwm {
		t.Fatalf("procMemory = %d, %d, %v", hwm, rss, err)
	}
}

// The auxiliary vector parser finds AT_CLKTCK (17) where it is and reports when it is not, so
// that clockTicks' fallback to 100 is a decision, not a parse that cannot fail.
func TestAuxvClockTicks(t *testing.T) {
	vector := func(word int, pairs ...uint64) []byte {
		b := make([]byte, 0, len(pairs)*word)
		for _, p := range pairs {
			if word == 8 {
				b = binary.NativeEndian.AppendUint64(b, p)
			} else {
				b = binary.NativeEndian.AppendUint32(b, uint32(p))
			}
		}
		return b
	}
	tests := []struct {
		name   string
		raw    []byte
		word   int
		hz     int
		wantOK bool
	}{
		{"64-bit, after other entries", vector(8, 6, 4096, 17, 250, 0, 0), 8, 250, true},
		{"32-bit", vector(4, 17, 100, 0, 0), 4, 100, true},
		{"missing", vector(8, 6, 4096, 0, 0), 8, 0, false},
		{"after the end marker", vector(8, 0, 0, 17, 100), 8, 0, false},
		{"zero value", vector(8, 17, 0, 0, 0), 8, 0, false},
		{"truncated", vector(8, 17, 100)[:12], 8, 0, false},
	}
	for _, tt := range tests {
		if hz, ok := auxvClockTicks(tt.raw, tt.word); hz != tt.hz || ok != tt.wantOK {
			t.Errorf("%s: got %d, %v; want %d, %v", tt.name, hz, ok, tt.hz, tt.wantOK)
		}
	}
	if _, err := os.Stat("/proc/self/auxv"); err == nil {
		raw, _ := os.ReadFile("/proc/self/auxv")
		if _, ok := auxvClockTicks(raw, strconv.IntSize/8); !ok {
			t.Error("this process's auxiliary vector has no AT_CLKTCK")
		}
	}
}

// The bench's users may run the SQL phase's statement: CAN_USE on its warehouse and SELECT on its
// table, each granted to the user by name, and the fixture's own grants are kept.
func TestBenchUsersMayRunTheStatement(t *testing.T) {
	fx, err := stack.LoadFixture("")
	if err != nil {
		t.Fatal(err)
	}
	benchUsers(3)(&fx)
	sq := fx.Workspace.SQL
	if sq == nil {
		t.Fatal("the built-in fixture has no SQL side")
	}
	var acl map[string]string
	for _, w := range sq.Warehouses {
		if w.ID == benchWarehouseID {
			acl = w.ACL
		}
	}
	var grants map[string][]string
	for _, tb := range sq.Tables {
		if strings.EqualFold(tb.Name, benchStatementTable) {
			grants = tb.Grants
		}
	}
	for _, upn := range []string{benchUserName(0) + "@contoso.example", benchUserName(2) + "@contoso.example"} {
		if acl[upn] != fakeworkspace.CanUse {
			t.Errorf("%s has %q on warehouse %s, want CAN_USE", upn, acl[upn], benchWarehouseID)
		}
		if !slices.Equal(grants[upn], []string{"SELECT"}) {
			t.Errorf("%s has %q on %s, want SELECT", upn, grants[upn], benchStatementTable)
		}
	}
	if acl["alice@contoso.example"] != fakeworkspace.CanUse || !slices.Equal(grants["bob@contoso.example"], []string{"SELECT"}) {
		t.Errorf("the fixture's own grants changed: %v, %v", acl, grants)
	}
}

// The direct SQL path is only a baseline while it sends what flowbricks sends; query tag values
// (each request's workflow run) may differ, nothing else.
func TestSameStatementWork(t *testing.T) {
	v := func(s string) *string { return &s }
	base := func(id string) fakeworkspace.StatementRecord {
		return fakeworkspace.StatementRecord{ID: id, WarehouseID: benchWarehouseID, Statement: benchStatement,
			Parameters: []fakeworkspace.StatementParam{{Name: "active", Type: "BOOLEAN", Value: v("true")}},
			RowLimit:   10000, ByteLimit: 4 << 20, WaitTimeout: "10s", OnWaitTimeout: "CONTINUE",
			QueryTags: []fakeworkspace.QueryTag{{Key: "flowbricks"}, {Key: "flowbricks_workflow_run", Value: v("run-" + id)}}}
	}
	tests := []struct {
		name   string
		change func(*fakeworkspace.StatementRecord)
		ok     bool
	}{
		{"the same but for tag values", func(*fakeworkspace.StatementRecord) {}, true},
		{"another wait", func(r *fakeworkspace.StatementRecord) { r.WaitTimeout = "5s" }, false},
		{"another row limit", func(r *fakeworkspace.StatementRecord) { r.RowLimit = 10 }, false},
		{"a parameter without its type", func(r *fakeworkspace.StatementRecord) { r.Parameters[0].Type = "" }, false},
		{"another parameter value", func(r *fakeworkspace.StatementRecord) { r.Parameters[0].Value = v("false") }, false},
		{"a tag less", func(r *fakeworkspace.StatementRecord) { r.QueryTags = r.QueryTags[:1] }, false},
		{"another text", func(r *fakeworkspace.StatementRecord) { r.Statement += " LIMIT 1" }, false},
		{"no statement from one path", func(r *fakeworkspace.StatementRecord) { *r = fakeworkspace.StatementRecord{} }, false},
	}
	for _, tt := range tests {
		fb := base("fb")
		tt.change(&fb)
		if err := sameStatementWork(base("direct"), fb); (err == nil) != tt.ok {
			t.Errorf("%s: sameStatementWork = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
