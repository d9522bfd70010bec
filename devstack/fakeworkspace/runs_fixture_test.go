package fakeworkspace

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go/apierr"
	"github.com/databricks/databricks-sdk-go/service/jobs"
)

// The flaky-etl job of testdata/workspace.json (the same as the stack's): its transform task fails on the
// first attempt and succeeds when a repair reruns it.
func TestFlakyETLFixtureFailsThenSucceedsOnRepair(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	id := h.runNow("alice", jobs.RunNow{JobId: 105, JobParameters: map[string]string{"date": "2026-11-28"}})
	h.clk.Advance(time.Minute)
	r := h.getRun("bob", id)
	if r.RunName != "flaky-etl" || r.State.ResultState != jobs.RunResultStateFailed || len(r.Tasks) != 3 ||
		r.Tasks[1].TaskKey != "transform" || r.Tasks[1].State.ResultState != jobs.RunResultStateFailed {
		t.Fatalf("flaky-etl's first attempt: %+v %+v", r.State, r.Tasks)
	}
	out, err := h.jobs.GetRunOutput(h.as("bob"), jobs.GetRunOutputRequest{RunId: r.Tasks[1].RunId})
	if err != nil || !strings.HasPrefix(out.Error, "org.apache.spark.SparkException") {
		t.Errorf("the failure: %+v %v", out, err)
	}
	if _, err := h.jobs.RepairRun(h.as("bob"), jobs.RepairRun{RunId: id, RerunAllFailedTasks: true}); !errors.Is(err, apierr.ErrPermissionDenied) {
		t.Errorf("bob repairs: %v", err)
	}
	if _, err := h.jobs.RepairRun(h.as("alice"), jobs.RepairRun{RunId: id, RerunAllFailedTasks: true}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Minute)
	if r := h.getRun("bob", id); r.State.ResultState != jobs.RunResultStateSuccess || len(r.Tasks) != 5 {
		t.Errorf("flaky-etl after the repair: %+v with %d task runs", r.State, len(r.Tasks))
	}
}
