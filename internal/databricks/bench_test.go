package databricks

import (
	"context"
	"net/http"
	"testing"

	"github.com/databricks/databricks-sdk-go/service/jobs"
)

// benchRunJSON is a typical three-task terminated run.
const benchRunJSON = `{"run_id":5001,"job_id":101,"run_name":"daily-sales-refresh","run_page_url":"https://adb-1.2.azuredatabricks.net/#job/101/run/5001",
"start_time":1795860000000,"end_time":1795860192000,"run_duration":192000,"creator_user_name":"alice@contoso.com","run_type":"JOB_RUN",
"state":{"life_cycle_state":"TERMINATED","result_state":"SUCCESS","state_message":""},
"status":{"state":"TERMINATED","termination_details":{"code":"SUCCESS","type":"SUCCESS","message":""}},
"tasks":[
{"task_key":"ingest","run_id":5002,"run_page_url":"https://adb/#job/101/run/5002","setup_duration":1000,"execution_duration":88000,"cleanup_duration":1000,"notebook_task":{"notebook_path":"/Repos/x/ingest"},"state":{"life_cycle_state":"TERMINATED","result_state":"SUCCESS"},"status":{"state":"TERMINATED","termination_details":{"code":"SUCCESS","type":"SUCCESS"}}},
{"task_key":"transform","run_id":5003,"run_page_url":"https://adb/#job/101/run/5003","setup_duration":1000,"execution_duration":58000,"cleanup_duration":1000,"notebook_task":{"notebook_path":"/Repos/x/transform"},"depends_on":[{"task_key":"ingest"}],"state":{"life_cycle_state":"TERMINATED","result_state":"SUCCESS"},"status":{"state":"TERMINATED","termination_details":{"code":"SUCCESS","type":"SUCCESS"}}},
{"task_key":"report","run_id":5004,"run_page_url":"https://adb/#job/101/run/5004","setup_duration":1000,"execution_duration":38000,"cleanup_duration":1000,"notebook_task":{"notebook_path":"/Repos/x/report"},"depends_on":[{"task_key":"transform"}],"state":{"life_cycle_state":"TERMINATED","result_state":"SUCCESS"},"status":{"state":"TERMINATED","termination_details":{"code":"SUCCESS","type":"SUCCESS"}}}
]}`

// BenchmarkGetRun measures one GetRun through the SDK against an in-process
// upstream: context setup, auth header, HTTP round trip over loopback
// keep-alive, JSON decoding and mapping.
func BenchmarkGetRun(b *testing.B) {
	u := newUpstream(b, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, benchRunJSON) })
	c := newTestClient(b, u.srv.URL)
	ctx := WithToken(b.Context(), "bench-token")
	b.ReportAllocs()
	for b.Loop() {
		run, err := c.GetRun(ctx, 5001)
		if err != nil || !run.Succeeded || len(run.Tasks) != 3 {
			b.Fatalf("GetRun = %+v, %v", run, err)
		}
	}
}

// BenchmarkGetRunParallel is the same with concurrent callers on one client.
func BenchmarkGetRunParallel(b *testing.B) {
	u := newUpstream(b, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, benchRunJSON) })
	c := newTestClient(b, u.srv.URL)
	ctx := WithToken(b.Context(), "bench-token")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetRun(ctx, 5001); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSDKTypedGetRun is the reference for wire.go: the same call through
// JobsAPI.GetRun, decoding into jobs.Run with the SDK's marshal package.
func BenchmarkSDKTypedGetRun(b *testing.B) {
	u := newUpstream(b, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, benchRunJSON) })
	c := newTestClient(b, u.srv.URL)
	// The SDK's credentials provider sends the token of the current attempt, which the client's
	// own operations put into the context (Client.runFor); a direct SDK call needs it set here.
	ctx := context.WithValue(b.Context(), tokenKey{}, &attemptToken{token: "bench-token", header: "Bearer bench-token"})
	b.ReportAllocs()
	for b.Loop() {
		run, err := c.jobs.GetRun(ctx, jobs.GetRunRequest{RunId: 5001})
		if err != nil || len(run.Tasks) != 3 {
			b.Fatalf("GetRun = %+v, %v", run, err)
		}
	}
}
