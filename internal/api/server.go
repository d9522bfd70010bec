// Package api is flowbricks' HTTP surface: the chi router (routes.go lists every route),
// authentication of each request with Entra ID and the exchange for a Databricks token, request
// decoding and validation, problem responses, and the asynchronous 202 pattern flows use to wait
// for long-running jobs.
package api

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
)

// Authenticator validates the Authorization header of a request.
type Authenticator interface {
	Validate(ctx context.Context, authorization string) (entra.Principal, entra.Token, error)
}

// TokenExchanger gets the Databricks token that acts for a validated principal, and a newly
// obtained one when Databricks rejected the token it gave (see entra.Exchanger.Refresh).
type TokenExchanger interface {
	TokenFor(ctx context.Context, p entra.Principal, incoming entra.Token) (entra.Token, time.Time, error)
	Refresh(ctx context.Context, p entra.Principal, incoming, rejected entra.Token) (entra.Token, time.Time, error)
}

// Jobs is the part of the Databricks Jobs API flowbricks uses. The token to act with travels in
// the context (databricks.WithTokenSource).
type Jobs interface {
	RunNow(ctx context.Context, r databricks.RunNowRequest) (int64, error)
	GetRun(ctx context.Context, runID int64) (databricks.Run, error)
	RunOutputs(ctx context.Context, run databricks.Run) ([]databricks.TaskOutput, error)
	CancelRun(ctx context.Context, runID int64) error
	ListJobs(ctx context.Context, name string, max int) ([]databricks.Job, error)
}

// Deps is everything the HTTP surface needs; main wires the real ones, tests fakes.
type Deps struct {
	Config    config.Config
	Logger    zerolog.Logger
	Auth      Authenticator
	Exchanger TokenExchanger
	// Workspaces maps a workspace name (config.Config.Workspaces) to its Jobs client; "default"
	// must be present.
	Workspaces map[string]Jobs
	// RequestTimeout bounds the work done for one request (default 60 s, below the 120 s after
	// which Logic Apps and Power Automate give up on a synchronous call).
	RequestTimeout time.Duration
}

// NewServer returns flowbricks' whole HTTP surface.
func NewServer(d Deps) http.Handler {
	if d.RequestTimeout <= 0 {
		d.RequestTimeout = 60 * time.Second
	}
	s := &server{Deps: d}
	s.ops = s.operations()
	return s.routes()
}

type server struct {
	Deps
	ops []operation // the route table (routes.go), built once
}
