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
	ListRuns(ctx context.Context, r databricks.ListRunsRequest) ([]databricks.Run, error)
	RepairRun(ctx context.Context, r databricks.RepairRequest) (int64, error)
}

// SQL is the part of the Databricks SQL Statement Execution API flowbricks uses; the token travels
// in the context as for Jobs. A FAILED statement is not an error: it is a Statement whose State
// says so.
type SQL interface {
	ExecuteStatement(ctx context.Context, r databricks.StatementRequest) (databricks.Statement, error)
	GetStatement(ctx context.Context, id string) (databricks.Statement, error)
	StatementChunk(ctx context.Context, id string, index int) (databricks.Chunk, error)
	CancelStatement(ctx context.Context, id string) error
	ListWarehouses(ctx context.Context) ([]databricks.Warehouse, error)
}

// Workspace is one Databricks workspace: its jobs and its SQL warehouses.
type Workspace interface {
	Jobs
	SQL
}

// Deps is everything the HTTP surface needs; main wires the real ones, tests fakes.
type Deps struct {
	Config    config.Config
	Logger    zerolog.Logger
	Auth      Authenticator
	Exchanger TokenExchanger
	// Workspaces maps a workspace name (config.Config.Workspaces) to its client; "default" must
	// be present.
	Workspaces map[string]Workspace
	// RequestTimeout bounds the work done for one request (default 60 s, below the 120 s after
	// which Logic Apps and Power Automate give up on a synchronous call).
	RequestTimeout time.Duration
	// Now is the clock of the run trigger's cursor and of the retry memories (default time.Now).
	Now func() time.Time
}

// NewServer returns flowbricks' whole HTTP surface.
func NewServer(d Deps) http.Handler {
	if d.RequestTimeout <= 0 {
		d.RequestTimeout = 60 * time.Second
	}
	if d.Config.SQL == "" {
		d.Config.SQL = config.SQLAny
	}
	if d.Config.SQLMaxRows <= 0 {
		d.Config.SQLMaxRows = config.DefaultSQLMaxRows
	}
	if d.Config.SQLMaxBytes <= 0 {
		d.Config.SQLMaxBytes = config.DefaultSQLMaxBytes
	}
	if d.Config.TriggerLookback <= 0 {
		d.Config.TriggerLookback = config.DefaultTriggerLookback
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &server{Deps: d,
		statements: newRetryMemory[string](retryMemorySize, retryMemoryTTL, d.Now),
		repairs:    newRetryMemory[int64](retryMemorySize, retryMemoryTTL, d.Now),
	}
	s.ops = s.operations()
	return s.routes()
}

type server struct {
	Deps
	ops        []operation          // the route table (routes.go), built once
	statements *retryMemory[string] // which statement each retried RunStatement started (retrymemory.go)
	repairs    *retryMemory[int64]  // which repair each retried RepairRun started (retrymemory.go)
}
