package databricks

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/databricks/databricks-sdk-go/service/jobs"
)

// Why our own wire types for runs/get and runs/get-output:
//
// The SDK's generated types (jobs.Run, jobs.RunOutput) decode through
// marshal.Unmarshal, whose int64 normalizer (new in v0.175.0) calls
// reflect.VisibleFields for every JSON key it meets; a three-task run cost
// ~2.8 ms, ~1.2 MB and ~11k allocations per GetRun in BenchmarkGetRun, ~95% of
// it in that decoder. GetRun is what every waiting flow polls, so these two
// read calls still go through the SDK's client (same auth visitor, retries,
// error mapping and path-based error overrides as jobsImpl.GetRun: we call
// DatabricksClient.Do with the same path, headers and request type), but
// decode into the small structs below with encoding/json. The SDK's
// next_page_token loop for runs/get (JobsAPI.GetRun) is repeated in fetchRun.
//
// Only fields flowbricks maps are declared; unknown fields are ignored.

const (
	pathRunsGet   = "/api/2.2/jobs/runs/get"
	pathGetOutput = "/api/2.2/jobs/runs/get-output"

	// maxRunPages bounds the runs/get page loop (2.2 pages arrays at 100
	// items; a job has at most 1,000 tasks) against a server that keeps
	// returning a next_page_token.
	maxRunPages = 50
)

// flexInt64 accepts a JSON number or a decimal string (proto-JSON encodes
// int64 as a string), as the SDK's decoder does since v0.175.0.
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an int64: %q", b)
	}
	*f = flexInt64(v)
	return nil
}

type wireState struct {
	LifeCycleState string `json:"life_cycle_state"`
	ResultState    string `json:"result_state"`
	StateMessage   string `json:"state_message"`
}

type wireStatus struct {
	State        string `json:"state"`
	QueueDetails *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"queue_details"`
	TerminationDetails *struct {
		Code    string `json:"code"`
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"termination_details"`
}

// wireTimes are the timing fields shared by runs and task runs (epoch ms, ms).
type wireTimes struct {
	StartTime         flexInt64 `json:"start_time"`
	EndTime           flexInt64 `json:"end_time"`
	SetupDuration     flexInt64 `json:"setup_duration"`
	ExecutionDuration flexInt64 `json:"execution_duration"`
	CleanupDuration   flexInt64 `json:"cleanup_duration"`
	RunDuration       flexInt64 `json:"run_duration"`
}

type wireTask struct {
	TaskKey       string      `json:"task_key"`
	RunID         flexInt64   `json:"run_id"`
	AttemptNumber flexInt64   `json:"attempt_number"`
	RunPageURL    string      `json:"run_page_url"`
	State         *wireState  `json:"state"`
	Status        *wireStatus `json:"status"`
	wireTimes
}

// wireRepair is one item of a run's repair_history (runs/get with include_history=true): the
// original attempt (type ORIGINAL, no id) or a repair.
type wireRepair struct {
	Type   string      `json:"type"`
	ID     flexInt64   `json:"id"`
	State  *wireState  `json:"state"`
	Status *wireStatus `json:"status"`
}

type wireRun struct {
	RunID         flexInt64    `json:"run_id"`
	JobID         flexInt64    `json:"job_id"`
	RunName       string       `json:"run_name"`
	RunPageURL    string       `json:"run_page_url"`
	State         *wireState   `json:"state"`
	Status        *wireStatus  `json:"status"`
	Tasks         []wireTask   `json:"tasks"`
	RepairHistory []wireRepair `json:"repair_history"`
	NextPageToken string       `json:"next_page_token"`
	wireTimes
}

type wireOutput struct {
	Error          string `json:"error"`
	ErrorTrace     string `json:"error_trace"`
	NotebookOutput *struct {
		Result    string `json:"result"`
		Truncated bool   `json:"truncated"`
	} `json:"notebook_output"`
}

// getJSON is what the generated jobsImpl read methods do, with our response type.
func (c *Client) getJSON(ctx context.Context, path string, request, response any) error {
	headers := map[string]string{"Accept": "application/json"}
	return c.dc.Do(ctx, http.MethodGet, path, headers, nil, request, response)
}

// fetchRun reads a run with its repair history and, like JobsAPI.GetRun, follows
// next_page_token to collect all its tasks (and history items, an array the
// pages may also split).
func (c *Client) fetchRun(ctx context.Context, runID int64) (*wireRun, error) {
	var run wireRun
	if err := c.getJSON(ctx, pathRunsGet, jobs.GetRunRequest{RunId: runID, IncludeHistory: true}, &run); err != nil {
		return nil, err
	}
	for pages := 1; run.NextPageToken != ""; pages++ {
		if pages >= maxRunPages {
			return nil, &Error{Kind: ErrUpstream, Op: OpGetRun,
				Detail: fmt.Sprintf("runs/get still had a next_page_token after %d pages", maxRunPages)}
		}
		var next wireRun
		if err := c.getJSON(ctx, pathRunsGet, jobs.GetRunRequest{RunId: runID, IncludeHistory: true, PageToken: run.NextPageToken}, &next); err != nil {
			return nil, err
		}
		run.Tasks = append(run.Tasks, next.Tasks...)
		run.RepairHistory = append(run.RepairHistory, next.RepairHistory...)
		run.NextPageToken = next.NextPageToken
	}
	return &run, nil
}
