package databricks

import (
	"errors"
	"net/http"
	"testing"
)

func TestRepairRun(t *testing.T) {
	tests := []struct {
		name     string
		req      RepairRequest
		wantBody string
	}{
		{
			name:     "every failed task of a run never repaired: no latest_repair_id",
			req:      RepairRequest{RunID: 42, RerunAllFailedTasks: true},
			wantBody: `{"run_id":42,"rerun_all_failed_tasks":true}`,
		},
		{
			name: "named tasks, their dependents, job parameters, after an earlier repair",
			req: RepairRequest{RunID: 42, RerunTasks: []string{"transform"}, RerunDependentTasks: true, LatestRepairID: 734650698524281,
				JobParameters: map[string]string{"date": "2026-11-28"}},
			wantBody: `{"run_id":42,"rerun_tasks":["transform"],"rerun_dependent_tasks":true,"latest_repair_id":734650698524281,"job_parameters":{"date":"2026-11-28"}}`,
		},
		{
			name:     "empty job parameters are not sent",
			req:      RepairRequest{RunID: 42, RerunAllFailedTasks: true, JobParameters: map[string]string{}},
			wantBody: `{"run_id":42,"rerun_all_failed_tasks":true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{"repair_id":734650698524290}`) })
			id, err := newTestClient(t, u.srv.URL).RepairRun(userCtx(t, "tok"), tt.req)
			if err != nil || id != 734650698524290 {
				t.Fatalf("RepairRun = %d, %v", id, err)
			}
			reqs := u.requests()
			if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/api/2.2/jobs/runs/repair" {
				t.Fatalf("requests = %+v", reqs)
			}
			jsonEqual(t, reqs[0].Body, tt.wantBody)
		})
	}
}

func TestRepairRunRefusesBeforeSending(t *testing.T) {
	for name, req := range map[string]RepairRequest{
		"no run id":                    {RerunAllFailedTasks: true},
		"negative latest repair id":    {RunID: 42, RerunAllFailedTasks: true, LatestRepairID: -1},
		"neither tasks nor all failed": {RunID: 42},
		"both tasks and all failed":    {RunID: 42, RerunTasks: []string{"a"}, RerunAllFailedTasks: true},
	} {
		t.Run(name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{"repair_id":1}`) })
			_, err := newTestClient(t, u.srv.URL).RepairRun(userCtx(t, "tok"), req)
			if !errors.Is(err, ErrInvalidRequest) || u.count() != 0 {
				t.Fatalf("err = %v after %d requests; want ErrInvalidRequest before any", err, u.count())
			}
		})
	}
}

func TestRepairRunWithoutRepairIDIsUpstreamError(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{}`) })
	_, err := newTestClient(t, u.srv.URL).RepairRun(userCtx(t, "tok"), RepairRequest{RunID: 42, RerunAllFailedTasks: true})
	if !errors.Is(err, ErrUpstream) {
		t.Fatalf("err = %v, want ErrUpstream", err)
	}
}
