package databricks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// outputBody is a get-output answer whose notebook result is result.
func outputBody(t *testing.T, result string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"notebook_output": map[string]any{"result": result, "truncated": false}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A get-output answer larger than flowbricks reads is not read to its end:
// the task's output comes back empty and marked truncated, the call is not
// repeated, and the other tasks of the run are unaffected.
func TestGetOutputLargerThanTheBoundIsCutOff(t *testing.T) {
	huge := outputBody(t, strings.Repeat("x", maxOutputResponseBytes+1))
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("run_id") == "11" {
			writeJSON(w, 200, huge)
			return
		}
		writeJSON(w, 200, outputBody(t, "small"))
	})
	c := newTestClient(t, u.srv.URL)

	outs, err := c.RunOutputs(userCtx(t, "tok"), Run{RunID: 1, Tasks: []TaskRun{{TaskKey: "huge", RunID: 11}, {TaskKey: "small", RunID: 12}}})
	if err != nil {
		t.Fatal(err)
	}
	if o := outs[0]; o.Result != "" || !o.Truncated || o.RunID != 11 || o.TaskKey != "huge" {
		t.Errorf("huge task = {Result: %d bytes, Truncated: %v, RunID: %d, TaskKey: %q}, want empty, truncated, 11, huge",
			len(o.Result), o.Truncated, o.RunID, o.TaskKey)
	}
	if o := outs[1]; o.Result != "small" || o.Truncated {
		t.Errorf("small task = %+v", o)
	}
	if n := u.count(); n != 2 {
		t.Errorf("requests = %d, want 2 (an oversized answer is not asked for again)", n)
	}
}

// A runs/get page larger than flowbricks reads fails the call as an
// unexpected answer; it is not decoded.
func TestRunsGetAnswerLargerThanTheBoundIsUpstreamError(t *testing.T) {
	page := `{"run_id":1,"job_id":2,"run_name":"` + strings.Repeat("n", maxResponseBytes) + `"}`
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, page) })
	c := newTestClient(t, u.srv.URL)

	_, err := c.GetRun(userCtx(t, "tok"), 1)

	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUpstream) {
		t.Fatalf("err = %v, want ErrUpstream", err)
	}
	if want := "larger than the 8 MiB flowbricks reads"; !strings.Contains(e.Detail, want) {
		t.Errorf("Detail = %q, want it to say %q", e.Detail, want)
	}
	if n := u.count(); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

// The outputs of one run share MaxRunOutputBytes, spent in task order whatever
// order the answers arrive in: here the first task answers last. Tasks past
// the budget are cut (on a character boundary) or emptied, and say so.
func TestRunOutputsShareOneBudgetInTaskOrder(t *testing.T) {
	const mib = 1 << 20
	results := map[string]string{
		"11": strings.Repeat("a", 3*mib+1),
		"12": strings.Repeat("b", 3*mib),
		"13": strings.Repeat("é", 2*mib), // 4 MiB of two-byte characters; 2 MiB - 1 bytes are left for it
		"14": "the budget is spent",
	}
	var mu sync.Mutex
	arrived := map[string]bool{}
	othersArrived := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("run_id")
		mu.Lock()
		arrived[id] = true
		if arrived["12"] && arrived["13"] && arrived["14"] && !arrived["done"] {
			arrived["done"] = true
			close(othersArrived)
		}
		mu.Unlock()
		if id == "11" {
			select { // answer last: after the three others were asked (and, being small, answered)
			case <-othersArrived:
			case <-r.Context().Done():
				return
			}
		}
		writeJSON(w, 200, outputBody(t, results[id]))
	})
	c := newTestClient(t, u.srv.URL)
	run := Run{RunID: 1, Tasks: []TaskRun{{TaskKey: "a", RunID: 11}, {TaskKey: "b", RunID: 12}, {TaskKey: "c", RunID: 13}, {TaskKey: "d", RunID: 14}}}

	outs, err := c.RunOutputs(userCtx(t, "tok"), run)
	if err != nil {
		t.Fatal(err)
	}

	left := MaxRunOutputBytes - len(results["11"]) - len(results["12"])
	tests := []struct {
		task          int
		wantLen       int
		wantTruncated bool
	}{
		{0, len(results["11"]), false},
		{1, len(results["12"]), false},
		{2, left - 1, true}, // left is odd: the cut falls inside a two-byte character and moves before it
		{3, 1, true},        // the one byte the cut character left over
	}
	total := 0
	for _, tt := range tests {
		o := outs[tt.task]
		total += len(o.Result)
		if len(o.Result) != tt.wantLen || o.Truncated != tt.wantTruncated {
			t.Errorf("task %s: %d bytes, truncated %v; want %d bytes, truncated %v", o.TaskKey, len(o.Result), o.Truncated, tt.wantLen, tt.wantTruncated)
		}
		if id := fmt.Sprint(run.Tasks[tt.task].RunID); !utf8.ValidString(o.Result) || !strings.HasPrefix(results[id], o.Result) {
			t.Errorf("task %s: the result is not a valid prefix of what Databricks returned", o.TaskKey)
		}
	}
	if total > MaxRunOutputBytes {
		t.Errorf("results total %d bytes, over the budget of %d", total, MaxRunOutputBytes)
	}
}
