package databricks

import (
	"context"
	"fmt"

	"github.com/databricks/databricks-sdk-go/service/jobs"
	"golang.org/x/sync/errgroup"
)

// RunNowRequest is what run-now sends (Jobs API 2.2 jobs/run-now). Empty maps
// and slices are not sent (so the job's own defaults apply); Queue nil means
// the job's queue setting applies.
type RunNowRequest struct {
	JobID            int64
	IdempotencyToken string // ≤ 64 chars; the SDK retries POST run-now on 429/503, so always set it

	JobParameters     map[string]string
	NotebookParams    map[string]string
	PythonNamedParams map[string]string
	SQLParams         map[string]string

	PythonParams []string
	JarParams    []string
	Only         []string // task keys to run

	Queue *bool
}

// Job is one entry of ListJobs.
type Job struct {
	JobID int64  `json:"job_id"`
	Name  string `json:"name"`
}

// DefaultListJobsMax is ListJobs' max when the caller passes max <= 0.
const DefaultListJobsMax = 100

// listPageSize is the Jobs API's maximum page size for jobs/list.
const listPageSize = 100

// RunNow triggers a run of r.JobID and returns its run id. It does not wait:
// JobsAPI.RunNow makes the one POST and returns a waiter whose Get (the
// polling) is never called. (The generated impl-level RunNow is unexported
// inside the SDK, so the waiter-returning wrapper is the way to reach it.)
func (c *Client) RunNow(ctx context.Context, r RunNowRequest) (int64, error) {
	if r.JobID <= 0 {
		return 0, invalid(OpRunNow, fmt.Sprintf("job_id must be a positive integer, got %d", r.JobID))
	}
	if len(r.IdempotencyToken) > maxIdempotencyToken {
		return 0, invalid(OpRunNow, fmt.Sprintf("idempotency_token must have at most %d characters, got %d", maxIdempotencyToken, len(r.IdempotencyToken)))
	}
	k, err := c.begin(ctx, OpRunNow)
	if err != nil {
		return 0, err
	}
	defer k.cancel()

	req := jobs.RunNow{
		JobId:             r.JobID,
		IdempotencyToken:  r.IdempotencyToken,
		JobParameters:     nonEmptyMap(r.JobParameters),
		NotebookParams:    nonEmptyMap(r.NotebookParams),
		PythonNamedParams: nonEmptyMap(r.PythonNamedParams),
		SqlParams:         nonEmptyMap(r.SQLParams),
		PythonParams:      nonEmptySlice(r.PythonParams),
		JarParams:         nonEmptySlice(r.JarParams),
		Only:              nonEmptySlice(r.Only),
	}
	if r.Queue != nil {
		req.Queue = &jobs.QueueSettings{Enabled: *r.Queue}
	}
	w, sdkErr := c.jobs.RunNow(k.ctx, req)
	if sdkErr != nil {
		return 0, k.fail(sdkErr)
	}
	if w == nil || w.Response == nil || w.Response.RunId == 0 {
		return 0, &Error{Kind: ErrUpstream, Op: OpRunNow, Detail: "run-now answered without a run_id"}
	}
	return w.Response.RunId, nil
}

// GetRun returns the run's status. Runs with more than 100 tasks come in
// pages (next_page_token); all are fetched within one deadline. See wire.go
// for why this call decodes into its own types.
func (c *Client) GetRun(ctx context.Context, runID int64) (Run, error) {
	if runID <= 0 {
		return Run{}, invalid(OpGetRun, fmt.Sprintf("run_id must be a positive integer, got %d", runID))
	}
	k, err := c.begin(ctx, OpGetRun)
	if err != nil {
		return Run{}, err
	}
	defer k.cancel()
	r, sdkErr := c.fetchRun(k.ctx, runID)
	if sdkErr != nil {
		return Run{}, k.fail(sdkErr)
	}
	return mapRun(r), nil
}

// TaskOutput returns the output of one task run. taskRunID must be a task's
// run id (Run.Tasks[i].RunID): for a multi-task job run id Databricks answers
// 400 (ErrInvalidRequest). TaskKey is left empty (get-output does not return
// it); RunOutputs fills it in.
func (c *Client) TaskOutput(ctx context.Context, taskRunID int64) (TaskOutput, error) {
	if taskRunID <= 0 {
		return TaskOutput{}, invalid(OpGetOutput, fmt.Sprintf("run_id must be a positive integer, got %d", taskRunID))
	}
	k, err := c.begin(ctx, OpGetOutput)
	if err != nil {
		return TaskOutput{}, err
	}
	defer k.cancel()
	var o wireOutput
	if sdkErr := c.getJSON(k.ctx, pathGetOutput, jobs.GetRunOutputRequest{RunId: taskRunID}, &o); sdkErr != nil {
		return TaskOutput{}, k.fail(sdkErr)
	}
	return mapOutput("", taskRunID, &o), nil
}

// RunOutputs calls get-output once per task run id of run, at most
// outputConcurrency (4) at a time, and returns the outputs in the order of
// run.Tasks. Each call has its own RequestTimeout; ctx bounds them all.
//
//   - A task with RunID 0 (never started) gets an entry with only its
//     TaskKey; no call is made for it.
//   - A run with no tasks at all (legacy single-task shape) is asked for its
//     own run id's output once, with TaskKey "".
//   - The first failing call cancels the others and its error is returned;
//     there are no partial results.
func (c *Client) RunOutputs(ctx context.Context, run Run) ([]TaskOutput, error) {
	if _, ok := tokenFrom(ctx); !ok {
		return nil, classify(ctx, OpGetOutput, "", ErrNoToken)
	}
	targets := run.Tasks
	if len(targets) == 0 {
		if run.RunID <= 0 {
			return []TaskOutput{}, nil
		}
		targets = []TaskRun{{RunID: run.RunID}}
	}
	outs := make([]TaskOutput, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(outputConcurrency)
	for i, t := range targets {
		if t.RunID <= 0 {
			outs[i] = TaskOutput{TaskKey: t.TaskKey}
			continue
		}
		g.Go(func() error {
			o, err := c.TaskOutput(gctx, t.RunID)
			if err != nil {
				return err
			}
			o.TaskKey = t.TaskKey
			outs[i] = o
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return outs, nil
}

// CancelRun asks Databricks to cancel a run (or task run). Cancellation is
// asynchronous: the run may still be running when this returns; poll GetRun.
func (c *Client) CancelRun(ctx context.Context, runID int64) error {
	if runID <= 0 {
		return invalid(OpCancelRun, fmt.Sprintf("run_id must be a positive integer, got %d", runID))
	}
	k, err := c.begin(ctx, OpCancelRun)
	if err != nil {
		return err
	}
	defer k.cancel()
	return k.fail(c.jobs.CancelRunByRunId(k.ctx, runID))
}

// ListJobs returns up to max jobs the caller can see, in the API's order.
// A non-empty name is passed to the API's filter (exact, case-insensitive
// match — "Daily" also returns "daily"; the caller decides what a duplicate
// means). Pages of up to 100 are fetched until max jobs are collected or
// there are no more pages; max <= 0 means DefaultListJobsMax. The result is
// never nil.
func (c *Client) ListJobs(ctx context.Context, name string, max int) ([]Job, error) {
	if max <= 0 {
		max = DefaultListJobsMax
	}
	k, err := c.begin(ctx, OpListJobs)
	if err != nil {
		return nil, err
	}
	defer k.cancel()
	it := c.jobs.List(k.ctx, jobs.ListJobsRequest{Name: name, Limit: min(max, listPageSize)})
	out := make([]Job, 0, min(max, listPageSize))
	for len(out) < max && it.HasNext(k.ctx) {
		j, sdkErr := it.Next(k.ctx)
		if sdkErr != nil {
			return nil, k.fail(sdkErr)
		}
		job := Job{JobID: j.JobId}
		if j.Settings != nil {
			job.Name = j.Settings.Name
		}
		out = append(out, job)
	}
	return out, nil
}

func nonEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func nonEmptySlice(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
