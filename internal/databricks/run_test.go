package databricks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// t0 is 2026-11-28T10:00:00Z in epoch milliseconds.
const t0 = 1795860000000

// TestRunMapping is the reference for how a Jobs API run becomes a Run. Each
// row is served by a fake runs/get and read back through GetRun.
func TestRunMapping(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Run
	}{
		{
			name: "queued: queue_details message, not terminal",
			json: `{"run_id":1,"job_id":10,"run_name":"daily","run_page_url":"https://h/#job/10/run/1","start_time":1795860000000,
				"state":{"life_cycle_state":"QUEUED","state_message":"Queued"},
				"status":{"state":"QUEUED","queue_details":{"code":"ACTIVE_RUNS_LIMIT_REACHED","message":"Queued: the job has reached its maximum concurrent runs"}},
				"tasks":[{"task_key":"ingest","run_id":2,"state":{"life_cycle_state":"QUEUED"},"status":{"state":"QUEUED"}}]}`,
			want: Run{RunID: 1, JobID: 10, RunName: "daily", RunPageURL: "https://h/#job/10/run/1",
				State: "QUEUED", Message: "Queued: the job has reached its maximum concurrent runs",
				StartTime: "2026-11-28T10:00:00Z",
				Tasks:     []TaskRun{{TaskKey: "ingest", RunID: 2, State: "QUEUED"}}},
		},
		{
			name: "pending: state_message",
			json: `{"run_id":1,"state":{"life_cycle_state":"PENDING","state_message":"Waiting for cluster"},"status":{"state":"PENDING"}}`,
			want: Run{RunID: 1, State: "PENDING", Message: "Waiting for cluster", Tasks: []TaskRun{}},
		},
		{
			name: "running: no end time, no duration yet",
			json: `{"run_id":1,"start_time":1795860000000,"end_time":0,"state":{"life_cycle_state":"RUNNING"},"status":{"state":"RUNNING"}}`,
			want: Run{RunID: 1, State: "RUNNING", StartTime: "2026-11-28T10:00:00Z", Tasks: []TaskRun{}},
		},
		{
			name: "waiting (status-only v2 state)",
			json: `{"run_id":1,"status":{"state":"WAITING"}}`,
			want: Run{RunID: 1, State: "WAITING", Tasks: []TaskRun{}},
		},
		{
			name: "terminating: termination details already present, but no result until terminal",
			json: `{"run_id":1,"state":{"life_cycle_state":"TERMINATING"},
				"status":{"state":"TERMINATING","termination_details":{"code":"SUCCESS","type":"SUCCESS","message":""}}}`,
			want: Run{RunID: 1, State: "TERMINATING", Tasks: []TaskRun{}},
		},
		{
			name: "succeeded: code SUCCESS, run_duration",
			json: `{"run_id":5001,"job_id":101,"run_name":"daily-sales-refresh","run_page_url":"https://adb/#job/101/run/5001",
				"start_time":1795860000000,"end_time":1795860192000,"run_duration":192000,
				"state":{"life_cycle_state":"TERMINATED","result_state":"SUCCESS","state_message":""},
				"status":{"state":"TERMINATED","termination_details":{"code":"SUCCESS","type":"SUCCESS","message":""}}}`,
			want: Run{RunID: 5001, JobID: 101, RunName: "daily-sales-refresh", RunPageURL: "https://adb/#job/101/run/5001",
				State: "TERMINATED", Result: "SUCCESS", Terminal: true, Succeeded: true,
				StartTime: "2026-11-28T10:00:00Z", EndTime: "2026-11-28T10:03:12Z", EndTimeMs: 1795860192000, DurationMs: 192000, Tasks: []TaskRun{}},
		},
		{
			name: "failed: termination code and message",
			json: `{"run_id":1,"state":{"life_cycle_state":"TERMINATED","result_state":"FAILED","state_message":"Task ingest failed"},
				"status":{"state":"TERMINATED","termination_details":{"code":"RUN_EXECUTION_ERROR","type":"CLIENT_ERROR","message":"Workload failed, see run output for details"}}}`,
			want: Run{RunID: 1, State: "TERMINATED", Result: "RUN_EXECUTION_ERROR", Terminal: true,
				Message: "Workload failed, see run output for details", Tasks: []TaskRun{}},
		},
		{
			name: "canceled by a user",
			json: `{"run_id":1,"state":{"life_cycle_state":"TERMINATED","result_state":"CANCELED"},
				"status":{"state":"TERMINATED","termination_details":{"code":"USER_CANCELED","type":"SUCCESS","message":"Run cancelled by user"}}}`,
			want: Run{RunID: 1, State: "TERMINATED", Result: "USER_CANCELED", Terminal: true, Message: "Run cancelled by user", Tasks: []TaskRun{}},
		},
		{
			name: "success with failures is not success (as in Airflow)",
			json: `{"run_id":1,"state":{"life_cycle_state":"TERMINATED","result_state":"SUCCESS_WITH_FAILURES"},
				"status":{"state":"TERMINATED","termination_details":{"code":"SUCCESS_WITH_FAILURES","type":"SUCCESS"}}}`,
			want: Run{RunID: 1, State: "TERMINATED", Result: "SUCCESS_WITH_FAILURES", Terminal: true, Succeeded: false, Tasks: []TaskRun{}},
		},
		{
			name: "skipped (legacy state only): terminal, result SKIPPED",
			json: `{"run_id":1,"state":{"life_cycle_state":"SKIPPED","state_message":"Skipped: max concurrent runs reached"}}`,
			want: Run{RunID: 1, State: "SKIPPED", Result: "SKIPPED", Terminal: true, Message: "Skipped: max concurrent runs reached", Tasks: []TaskRun{}},
		},
		{
			name: "skipped with status: v2 state TERMINATED, code SKIPPED",
			json: `{"run_id":1,"state":{"life_cycle_state":"SKIPPED"},
				"status":{"state":"TERMINATED","termination_details":{"code":"SKIPPED","type":"SUCCESS","message":"The run was skipped"}}}`,
			want: Run{RunID: 1, State: "TERMINATED", Result: "SKIPPED", Terminal: true, Message: "The run was skipped", Tasks: []TaskRun{}},
		},
		{
			name: "internal error (legacy state only)",
			json: `{"run_id":1,"state":{"life_cycle_state":"INTERNAL_ERROR","state_message":"Cluster launch failed"}}`,
			want: Run{RunID: 1, State: "INTERNAL_ERROR", Result: "INTERNAL_ERROR", Terminal: true, Message: "Cluster launch failed", Tasks: []TaskRun{}},
		},
		{
			name: "legacy terminated: result_state when there is no status",
			json: `{"run_id":1,"state":{"life_cycle_state":"TERMINATED","result_state":"TIMEDOUT","state_message":"timed out"}}`,
			want: Run{RunID: 1, State: "TERMINATED", Result: "TIMEDOUT", Terminal: true, Message: "timed out", Tasks: []TaskRun{}},
		},
		{
			name: "multi-task: per-task state, result and duration; run_duration is the total",
			json: `{"run_id":100,"job_id":7,"start_time":1795860000000,"end_time":1795860300000,"run_duration":300000,
				"setup_duration":0,"execution_duration":0,"cleanup_duration":0,
				"state":{"life_cycle_state":"TERMINATED","result_state":"FAILED"},
				"status":{"state":"TERMINATED","termination_details":{"code":"RUN_EXECUTION_ERROR","type":"CLIENT_ERROR","message":"Task transform failed"}},
				"tasks":[
				 {"task_key":"ingest","run_id":101,"run_page_url":"https://h/101","setup_duration":1000,"execution_duration":88000,"cleanup_duration":1000,
				  "state":{"life_cycle_state":"TERMINATED","result_state":"SUCCESS"},"status":{"state":"TERMINATED","termination_details":{"code":"SUCCESS","type":"SUCCESS"}}},
				 {"task_key":"transform","run_id":102,"run_page_url":"https://h/102","start_time":1795860090000,"end_time":1795860150000,
				  "state":{"life_cycle_state":"TERMINATED","result_state":"FAILED"}},
				 {"task_key":"report","run_id":103,
				  "state":{"life_cycle_state":"TERMINATED","result_state":"UPSTREAM_FAILED"},"status":{"state":"TERMINATED","termination_details":{"code":"RUN_EXECUTION_ERROR"}}},
				 {"task_key":"notify","run_id":104,"state":{"life_cycle_state":"RUNNING"},"status":{"state":"RUNNING"}}
				]}`,
			want: Run{RunID: 100, JobID: 7, State: "TERMINATED", Result: "RUN_EXECUTION_ERROR", Terminal: true,
				Message: "Task transform failed", StartTime: "2026-11-28T10:00:00Z", EndTime: "2026-11-28T10:05:00Z", EndTimeMs: 1795860300000, DurationMs: 300000,
				Tasks: []TaskRun{
					{TaskKey: "ingest", RunID: 101, State: "TERMINATED", Result: "SUCCESS", RunPageURL: "https://h/101", DurationMs: 90000},
					{TaskKey: "transform", RunID: 102, State: "TERMINATED", Result: "FAILED", RunPageURL: "https://h/102", DurationMs: 60000},
					{TaskKey: "report", RunID: 103, State: "TERMINATED", Result: "RUN_EXECUTION_ERROR"},
					{TaskKey: "notify", RunID: 104, State: "RUNNING"},
				}},
		},
		{
			name: "duration from setup+execution+cleanup when run_duration is absent",
			json: `{"run_id":1,"setup_duration":1000,"execution_duration":5000,"cleanup_duration":500,"start_time":1795860000000,"end_time":1795860999000,
				"state":{"life_cycle_state":"TERMINATED","result_state":"SUCCESS"}}`,
			want: Run{RunID: 1, State: "TERMINATED", Result: "SUCCESS", Terminal: true, Succeeded: true,
				StartTime: "2026-11-28T10:00:00Z", EndTime: "2026-11-28T10:16:39Z", EndTimeMs: 1795860999000, DurationMs: 6500, Tasks: []TaskRun{}},
		},
		{
			name: "repaired twice, the last repair over: repair count and latest repair id from the history",
			json: `{"run_id":1,"start_time":1795860000000,"end_time":1795861200500,
				"state":{"life_cycle_state":"TERMINATED","result_state":"SUCCESS"},"status":{"state":"TERMINATED","termination_details":{"code":"SUCCESS"}},
				"repair_history":[
				 {"type":"ORIGINAL","start_time":1795860000000,"end_time":1795860060000,"status":{"state":"TERMINATED","termination_details":{"code":"RUN_EXECUTION_ERROR"}},"task_run_ids":[2,3]},
				 {"type":"REPAIR","id":"734650698524280","start_time":1795860600000,"end_time":1795860660000,"status":{"state":"TERMINATED","termination_details":{"code":"RUN_EXECUTION_ERROR"}},"task_run_ids":[4]},
				 {"type":"REPAIR","id":734650698524281,"start_time":1795861000000,"end_time":1795861200500,"status":{"state":"TERMINATED","termination_details":{"code":"SUCCESS"}},"task_run_ids":[5]}]}`,
			want: Run{RunID: 1, State: "TERMINATED", Result: "SUCCESS", Terminal: true, Succeeded: true,
				StartTime: "2026-11-28T10:00:00Z", EndTime: "2026-11-28T10:20:00Z", EndTimeMs: 1795861200500, DurationMs: 1200500,
				Tasks: []TaskRun{}, RepairCount: 2, LatestRepairID: 734650698524281},
		},
		{
			name: "a repair under way while the run still shows the attempt before it: not over",
			json: `{"run_id":1,"end_time":1795860060000,
				"state":{"life_cycle_state":"TERMINATED","result_state":"FAILED"},"status":{"state":"TERMINATED","termination_details":{"code":"RUN_EXECUTION_ERROR"}},
				"repair_history":[
				 {"type":"ORIGINAL","end_time":1795860060000,"status":{"state":"TERMINATED","termination_details":{"code":"RUN_EXECUTION_ERROR"}}},
				 {"type":"REPAIR","id":9,"status":{"state":"PENDING"},"state":{"life_cycle_state":"PENDING","state_message":"Waiting for cluster"}}]}`,
			want: Run{RunID: 1, State: "PENDING", Message: "Waiting for cluster", Tasks: []TaskRun{}, RepairCount: 1, LatestRepairID: 9},
		},
		{
			name: "history with the original attempt only: never repaired",
			json: `{"run_id":1,"status":{"state":"RUNNING"},"repair_history":[{"type":"ORIGINAL","status":{"state":"RUNNING"}}]}`,
			want: Run{RunID: 1, State: "RUNNING", Tasks: []TaskRun{}},
		},
		{
			name: "int64 fields as decimal strings (proto-JSON style) are accepted",
			json: `{"run_id":"9007199254740993","job_id":"10","start_time":"1795860000000","run_duration":"1500",
				"status":{"state":"RUNNING"},"tasks":[{"task_key":"a","run_id":"8"}]}`,
			want: Run{RunID: 9007199254740993, JobID: 10, State: "RUNNING", StartTime: "2026-11-28T10:00:00Z", DurationMs: 1500,
				Tasks: []TaskRun{{TaskKey: "a", RunID: 8, State: StateUnknown}}},
		},
		{
			name: "no state and no status at all: UNKNOWN, no panic",
			json: `{"run_id":7,"job_id":10}`,
			want: Run{RunID: 7, JobID: 10, State: StateUnknown, Tasks: []TaskRun{}},
		},
		{
			name: "task without state or status",
			json: `{"run_id":7,"status":{"state":"RUNNING"},"tasks":[{"task_key":"a","run_id":8}]}`,
			want: Run{RunID: 7, State: "RUNNING", Tasks: []TaskRun{{TaskKey: "a", RunID: 8, State: StateUnknown}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, tt.json) })
			c := newTestClient(t, u.srv.URL)
			got, err := c.GetRun(userCtx(t, "tok"), 1)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("run mapping\n got: %+v\nwant: %+v", got, tt.want)
			}
		})
	}
}

// The run status keys (docs/architecture.md, Run status), all present and none null, for a run about
// which Databricks said nothing.
func TestRunJSONShapeIsNeverNull(t *testing.T) {
	wantKeys := []string{"duration_ms", "end_time", "idempotency_token", "job_id", "latest_repair_id", "message", "repair_count",
		"result", "run_id", "run_name", "run_page_url", "start_time", "state", "succeeded", "tasks", "terminal"}
	for name, run := range map[string]Run{
		"empty run": mapRun(&wireRun{}),
		"nil run":   mapRun(nil),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(run)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "null") {
				t.Errorf("JSON contains null: %s", b)
			}
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, wantKeys) {
				t.Errorf("keys = %v, want %v", keys, wantKeys)
			}
			if run.State != StateUnknown {
				t.Errorf("state = %q, want %q", run.State, StateUnknown)
			}
		})
	}
	b, _ := json.Marshal(TaskRun{})
	if want := `{"task_key":"","run_id":0,"state":"","result":"","run_page_url":"","duration_ms":0}`; string(b) != want {
		t.Errorf("TaskRun JSON = %s, want %s", b, want)
	}
	b, _ = json.Marshal(TaskOutput{})
	if want := `{"task_key":"","run_id":0,"result":"","truncated":false,"error":"","error_trace":""}`; string(b) != want {
		t.Errorf("TaskOutput JSON = %s, want %s", b, want)
	}
}

func TestTrimMiddle(t *testing.T) {
	head := strings.Repeat("H", errorTraceHeadBytes)
	tests := []struct {
		name   string
		in     string
		intact bool
	}{
		{"short trace unchanged", "Traceback (most recent call last):\nValueError: boom", true},
		{"exactly the limit unchanged", strings.Repeat("x", MaxErrorTraceBytes), true},
		{"one byte over is cut", strings.Repeat("x", MaxErrorTraceBytes+1), false},
		{"JVM-style: exception at the head survives", "org.apache.spark.SparkException: Job aborted\n" + strings.Repeat("\tat frame\n", 10000), false},
		{"Python-style: exception at the tail survives", strings.Repeat("  File x, line 1\n", 10000) + "ValueError: boom", false},
		{"multi-byte characters are not split", head[:errorTraceHeadBytes-1] + strings.Repeat("é€😀", 20000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trimMiddle(tt.in, MaxErrorTraceBytes)
			if tt.intact {
				if got != tt.in {
					t.Errorf("changed a trace within the limit")
				}
				return
			}
			if len(got) > MaxErrorTraceBytes {
				t.Errorf("len = %d, want <= %d", len(got), MaxErrorTraceBytes)
			}
			if len(got) < MaxErrorTraceBytes-16 {
				t.Errorf("len = %d, wasted budget (limit %d)", len(got), MaxErrorTraceBytes)
			}
			if !utf8.ValidString(got) {
				t.Error("result is not valid UTF-8")
			}
			i := strings.Index(got, "\n[... flowbricks: ")
			if i < 0 {
				t.Fatalf("no omission marker in %q…", got[:80])
			}
			var omitted int
			if _, err := fmt.Sscanf(got[i:], "\n[... flowbricks: %d bytes omitted ...]\n", &omitted); err != nil {
				t.Fatalf("marker unreadable: %v", err)
			}
			headPart := got[:i]
			tailPart := got[i+len(fmt.Sprintf(omittedMarker, omitted)):]
			if !strings.HasPrefix(tt.in, headPart) || !strings.HasSuffix(tt.in, tailPart) {
				t.Error("kept text is not the input's head and tail")
			}
			if len(headPart)+omitted+len(tailPart) != len(tt.in) {
				t.Errorf("head %d + omitted %d + tail %d != input %d", len(headPart), omitted, len(tailPart), len(tt.in))
			}
		})
	}
}
