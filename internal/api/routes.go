package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// operation is one route of the API. The same table drives the router and the OpenAPI document,
// so neither can list a route the other lacks.
type operation struct {
	Method  string
	Path    string // chi pattern under the Functions route prefix
	ID      string // OpenAPI operationId ("" = not part of the connector's definition)
	Auth    bool   // needs an Entra ID token and a Databricks token for the caller
	Handler http.HandlerFunc
}

// operations is the whole HTTP surface.
func (s *server) operations() []operation {
	return []operation{
		{http.MethodPost, "/api/jobs/run-now", "RunNow", true, s.handleRunNow()},
		{http.MethodGet, "/api/jobs/runs/{run_id}", "GetRun", true, s.handleGetRun()},
		{http.MethodGet, "/api/jobs/runs/{run_id}/output", "GetRunOutput", true, s.handleGetRunOutput()},
		{http.MethodPost, "/api/jobs/runs/{run_id}/cancel", "CancelRun", true, s.handleCancelRun()},
		{http.MethodGet, "/api/jobs", "ListJobs", true, s.handleListJobs()},
		{http.MethodGet, "/api/openapi.json", "", false, s.handleOpenAPI()},
		{http.MethodGet, "/api/health", "", false, s.handleHealth()},
		{http.MethodGet, "/", "", false, s.handleHealth()}, // the Functions host's readiness probe
	}
}

func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.recoverPanics, s.logRequests, s.limitTime)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, newProblem(http.StatusNotFound, "not_found", "No such endpoint: "+r.Method+" "+r.URL.Path+"."))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, newProblem(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path+"."))
	})
	for _, op := range s.operations() {
		h := http.Handler(op.Handler)
		if op.Auth {
			h = s.authenticate(h)
		}
		r.Method(op.Method, op.Path, h)
	}
	return r
}
