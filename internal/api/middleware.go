package api

import (
	"context"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
	"github.com/flowbricks/flowbricks/internal/redact"
	"github.com/flowbricks/flowbricks/internal/secret"
)

type ctxKey int

const principalKey ctxKey = iota

// recoverPanics turns a panic into a 500 problem. Only the stack is logged: the panic value may
// hold request data (a token, even), so it is neither logged nor sent.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error().Str("request_id", requestID(r)).Str("stack", string(debug.Stack())).Msg("panic while serving a request")
				writeProblem(w, r, newProblem(http.StatusInternalServerError, "internal_error",
					"flowbricks failed unexpectedly; the request id identifies the log entry."))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// logRequests gives every request a logger carrying its request id and the workflow run id of
// the flow that sent it, and writes one access line when it ends. Only the method and path are
// logged, never the query (function keys travel there) or any header but the workflow ones, and
// all of them through redact: anyone can send a token as a path segment or a workflow header.
func (s *server) logRequests(next http.Handler) http.Handler {
	withID := hlog.RequestIDHandler("request_id", "X-Request-Id")
	access := hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
		level := zerolog.InfoLevel
		if r.URL.Path == "/" || r.URL.Path == "/api/health" {
			level = zerolog.DebugLevel
		}
		hlog.FromRequest(r).WithLevel(level).Str("method", redact.Value(r.Method)).Str("path", redact.Path(r.URL.Path)).
			Int("status", status).Int("bytes", size).Dur("duration", d).Msg("request")
	})
	workflow := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if run := r.Header.Get(headerWorkflowRunID); run != "" {
				l := hlog.FromRequest(r)
				l.UpdateContext(func(c zerolog.Context) zerolog.Context {
					return c.Str("workflow_run_id", redact.Value(run)).Str("workflow_action", redact.Value(r.Header.Get(headerWorkflowOperation)))
				})
			}
			next.ServeHTTP(w, r)
		})
	}
	return hlog.NewHandler(s.Logger)(withID(workflow(access(next))))
}

// limitTime bounds the whole request, upstream calls included.
func (s *server) limitTime(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticate validates the caller's token, exchanges it for a Databricks token and puts the
// principal and a source of Databricks tokens into the request context. When Databricks rejects
// the token (expired or revoked before the cache noticed), the source exchanges again — once per
// request, however many calls of the request were rejected; the calls after that get the same
// fresh token, and a second rejection reaches the caller.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		principal, incoming, err := s.Auth.Validate(ctx, r.Header.Get("Authorization"))
		if err != nil {
			writeProblem(w, r, err)
			return
		}
		l := hlog.FromRequest(r)
		l.UpdateContext(func(c zerolog.Context) zerolog.Context {
			c = c.Str("caller_oid", principal.ObjectID).Str("caller_app", principal.AppID)
			if principal.Kind == entra.App {
				c = c.Str("caller_kind", "app")
			}
			return c
		})
		dbxToken, _, err := s.Exchanger.TokenFor(ctx, principal, incoming)
		if err != nil {
			writeProblem(w, r, err)
			return
		}
		tokens := &requestTokens{s: s, r: r, principal: principal, incoming: incoming, token: dbxToken}
		ctx = context.WithValue(ctx, principalKey, tokens) // principalFrom reads tokens.principal
		ctx = databricks.WithTokenSource(ctx, tokens.get)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requestTokens is the caller of one request and its Databricks token source: the calls of a
// request (e.g. the outputs of a run) share its one refresh. One allocation per request, where a
// closure over the same variables and the principal in the context made one per variable.
type requestTokens struct {
	s         *server
	r         *http.Request
	principal entra.Principal
	incoming  entra.Token

	mu        sync.Mutex
	token     secret.Token
	refreshed bool
}

func (t *requestTokens) get(ctx context.Context, fresh bool) (secret.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fresh && !t.refreshed {
		t.refreshed = true
		tok, _, err := t.s.Exchanger.Refresh(ctx, t.principal, t.incoming, t.token)
		if err != nil {
			return "", err
		}
		hlog.FromRequest(t.r).Info().Msg("Databricks rejected the exchanged token; exchanged again")
		t.token = tok
	}
	return t.token, nil
}

func principalFrom(ctx context.Context) entra.Principal {
	if t, ok := ctx.Value(principalKey).(*requestTokens); ok {
		return t.principal
	}
	return entra.Principal{}
}

func requestID(r *http.Request) string {
	if id, ok := hlog.IDFromRequest(r); ok {
		return id.String()
	}
	return ""
}

// audit starts the log line every state-changing call of a job writes: who (user or app),
// through which workflow run (already in the logger context), what job and run.
func (s *server) audit(r *http.Request, action string, jobID, runID int64) *zerolog.Event {
	return s.auditCaller(r, action).Int64("job_id", jobID).Int64("run_id", runID)
}

// auditCaller starts an audit line with who did it; the caller adds what. The SQL endpoints add
// the warehouse and statement (never its text or parameter values: docs/sql.md, Audit).
func (s *server) auditCaller(r *http.Request, action string) *zerolog.Event {
	p := principalFrom(r.Context())
	return hlog.FromRequest(r).Info().Bool("audit", true).Str("action", action).
		Str("caller_name", p.Name).Str("caller_tenant", p.TenantID)
}
