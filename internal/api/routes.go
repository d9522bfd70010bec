package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/flowbricks/flowbricks/internal/redact"
)

// operation is one route of the API. The same table drives the router and the OpenAPI document,
// so neither can list a route the other lacks.
type operation struct {
	Method  string
	Path    string // chi pattern under the Functions route prefix
	ID      string // OpenAPI operationId ("" = not part of the connector's definition)
	Auth    bool   // needs an Entra ID token and a Databricks token for the caller
	Handler http.Handler
	Doc     *opDoc // how the operation appears in the OpenAPI document (openapi.go); nil iff ID is ""
}

// operations is the whole HTTP surface.
func (s *server) operations() []operation {
	return []operation{
		{http.MethodPost, "/api/jobs/run-now", "RunNow", true, s.handleRunNow(), runNowDoc()},
		{http.MethodGet, "/api/jobs/runs/{run_id}", "GetRun", true, s.handleGetRun(), getRunDoc()},
		{http.MethodGet, "/api/jobs/runs/{run_id}/output", "GetRunOutput", true, s.handleGetRunOutput(), getRunOutputDoc()},
		{http.MethodPost, "/api/jobs/runs/{run_id}/cancel", "CancelRun", true, s.handleCancelRun(), cancelRunDoc()},
		{http.MethodGet, "/api/jobs", "ListJobs", true, s.handleListJobs(), listJobsDoc()},
		{http.MethodGet, "/api/openapi.json", "", false, s.handleOpenAPI(), nil},
		{http.MethodGet, "/api/health", "", false, s.handleHealth(), nil},
		{http.MethodGet, "/", "", false, s.handleHealth(), nil}, // the Functions host's readiness probe
	}
}

func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.logRequests, s.recoverPanics, s.limitTime) // panics are logged with the request id and an access line
	// The method and path are the caller's to choose (a token is a valid method token and path
	// segment), so they are quoted redacted.
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, newProblem(http.StatusNotFound, "not_found",
			"No such endpoint: "+redact.Value(r.Method)+" "+redact.Path(r.URL.Path)+"."))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, newProblem(http.StatusMethodNotAllowed, "method_not_allowed",
			redact.Value(r.Method)+" is not allowed on "+redact.Path(r.URL.Path)+"."))
	})
	for _, op := range s.ops {
		h := op.Handler
		if op.Auth {
			h = s.authenticate(h)
		}
		r.Method(op.Method, op.Path, h)
	}
	return r
}
