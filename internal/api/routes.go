package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

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
		{http.MethodGet, "/api/jobs/runs/ended", "WhenARunEnds", true, s.handleRunsEnded(), whenARunEndsDoc()},
		{http.MethodPost, "/api/jobs/runs/{run_id}/repair", "RepairRun", true, s.handleRepairRun(), repairRunDoc()},
		{http.MethodPost, "/api/sql/statements", "RunStatement", true, s.sqlOnly(s.handleRunStatement()), runStatementDoc()},
		{http.MethodGet, "/api/sql/statements/{statement_id}", "GetStatement", true, s.sqlOnly(s.handleGetStatement()), getStatementDoc()},
		{http.MethodPost, "/api/sql/statements/{statement_id}/cancel", "CancelStatement", true, s.sqlOnly(s.handleCancelStatement()), cancelStatementDoc()},
		{http.MethodGet, "/api/sql/warehouses", "ListWarehouses", true, s.sqlOnly(s.handleListWarehouses()), listWarehousesDoc()},
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

// pathOf is the URL path of the operation with operationId id, its pattern's parameters filled
// from params (escaped as path segments): the one place besides the router that reads a path
// pattern, so a 202's Location follows the route when it moves. Every parameter must be given
// and used; an error is a programming error.
func (s *server) pathOf(id string, params map[string]string) (string, error) {
	for _, op := range s.ops {
		if op.ID == id {
			return fillPattern(op.Path, params)
		}
	}
	return "", fmt.Errorf("no operation %q in the route table", id)
}

// fillPattern replaces each {name} (or chi's {name:regexp}) of a chi pattern with
// url.PathEscape(params[name]).
func fillPattern(pattern string, params map[string]string) (string, error) {
	var b strings.Builder
	used := 0
	rest := pattern
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			break
		}
		b.WriteString(rest[:open])
		// A regexp may hold braces of its own ({id:[0-9]{3}}): find the brace that closes this one.
		depth, end := 0, -1
		for i := open; i < len(rest) && end < 0; i++ {
			switch rest[i] {
			case '{':
				depth++
			case '}':
				if depth--; depth == 0 {
					end = i
				}
			}
		}
		if end < 0 {
			return "", fmt.Errorf("pattern %s: unclosed {", pattern)
		}
		name, _, _ := strings.Cut(rest[open+1:end], ":")
		value, ok := params[name]
		if !ok || value == "" {
			return "", fmt.Errorf("pattern %s: no value for {%s}", pattern, name)
		}
		b.WriteString(url.PathEscape(value))
		used++
		rest = rest[end+1:]
	}
	if strings.Contains(rest, "*") {
		return "", fmt.Errorf("pattern %s: a wildcard cannot be filled", pattern)
	}
	b.WriteString(rest)
	if used != len(params) {
		return "", fmt.Errorf("pattern %s: %d parameters given, %d used", pattern, len(params), used)
	}
	return b.String(), nil
}
