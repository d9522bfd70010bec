// Package app wires flowbricks together: configuration, token validation and exchange, the
// Databricks clients and the HTTP surface, served on 127.0.0.1 the way the Azure Functions host
// expects a custom handler to be. The handler's main and the local stack both call it, so the
// tests run exactly what production runs.
package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/internal/api"
	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
)

// requestTimeout bounds one request end to end; writeTimeout must be longer so the problem
// response for a timed-out request can still be written.
const (
	requestTimeout  = 60 * time.Second
	writeTimeout    = requestTimeout + 10*time.Second
	shutdownTimeout = 10 * time.Second
)

// Run reads the configuration from getenv, listens on 127.0.0.1 at FUNCTIONS_CUSTOMHANDLER_PORT
// and serves until ctx is cancelled (SIGTERM from the Functions host), then drains in-flight
// requests. Log lines go to stdout, which the Functions host captures. It makes no network call
// before serving: keys, discovery documents and tokens are fetched on first use.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on %s port %d: %w", config.EnvPort, cfg.Port, err)
	}
	return Serve(ctx, cfg, ln, stdout)
}

// Serve serves flowbricks on ln until ctx is cancelled, then drains in-flight requests; it closes
// ln. The local stack calls it with a listener it opened itself, so no port is ever given up and
// taken again between choosing it and serving on it.
func Serve(ctx context.Context, cfg config.Config, ln net.Listener, stdout io.Writer, opts ...Option) error {
	logger := newLogger(cfg, stdout)
	warnAboutSettings(cfg, logger)

	handler, cleanup, err := New(cfg, logger, opts...)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer cleanup()

	srv := newHTTPServer(handler)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info().Str("addr", ln.Addr().String()).Str("databricks_host", cfg.DatabricksHost).
		Str("credential", string(cfg.Credential)).Int("app_callers", len(cfg.AppCallers)).
		Int("client_apps", len(cfg.ClientApps)).Str("sql", string(cfg.SQL)).Int("sql_statements", len(cfg.SQLStatements)).
		Msg("flowbricks ready")

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info().Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// warnAboutSettings logs, at start-up, settings that work but leave a door open.
func warnAboutSettings(cfg config.Config, logger zerolog.Logger) {
	if len(cfg.ClientApps) == 0 {
		// Any app registration in the tenant can ask users to consent to this API's scope, or be
		// consented by an admin, and then present their tokens here (docs/admin-guide.md, "Which
		// client applications may act for a user").
		logger.Warn().Str("setting", config.EnvClientApps).Msg(config.EnvClientApps + " is empty: any client application in the " +
			"tenant that obtains a token for this API can act as its users; set it to the client ids of the connector and of " +
			"the Power Platform clients you use (docs/deploy.md#client-applications-allowed-to-act-for-users)")
	}
	// The documented import names the Function App's own host (terraform output
	// connector_api_properties.host). A connector imported that way gets 202 Locations on
	// FLOWBRICKS_PUBLIC_URL's host, which the platform likely polls without the connection's
	// token. Without FLOWBRICKS_CONNECTOR_HOST flowbricks cannot tell which host the connector
	// was imported for, so it warns; with it, config.Load refuses a mismatch (docs/connector.md,
	// "The 202 Location and the connector's host").
	if cfg.Connector.Host == "" && cfg.PublicURL != "" && cfg.WebsiteHostname != "" &&
		!strings.EqualFold(cfg.LocationHost(), cfg.WebsiteHostname) {
		logger.Warn().Str("setting", config.EnvConnectorHost).Msg(config.EnvPublicURL + " names another host than " +
			config.EnvWebsiteHostname + ": a connector imported for the Function App's own host gets 202 Location URLs on another " +
			"host, which the platform likely polls without the connection's token. Import the connector from /api/openapi.json " +
			"(it names " + config.EnvPublicURL + "'s host) and set " + config.EnvConnectorHost + " to that host, which flowbricks " +
			"then checks at start-up (docs/connector.md#the-202-location-and-the-connectors-host)")
	}
}

// newHTTPServer bounds every phase of a connection, so a slow or stuck client cannot hold the
// handler's resources: headers and body must arrive in time, the answer to a request that hit
// requestTimeout can still be written, idle keep-alive connections are closed.
func newHTTPServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
}

// databricksOptions are the Databricks client settings (Jobs and SQL) for one workspace host: every call (the
// SDK's retries of 429/503 included) ends within the configured upstream timeout.
func databricksOptions(cfg config.Config, host string, transport http.RoundTripper) databricks.Options {
	return databricks.Options{
		Host:           host,
		Transport:      transport,
		RequestTimeout: cfg.UpstreamTimeout,
		RetryTimeout:   min(cfg.UpstreamTimeout, databricks.DefaultRetryTimeout),
	}
}

// Option changes how New wires flowbricks for a test or the local stack; production passes none.
type Option func(*options)

type options struct {
	roots *x509.CertPool   // nil: the system roots
	now   func() time.Time // nil: time.Now
}

// WithRootCAs makes the connections to Entra ID and Databricks trust roots instead of the system
// roots: the local stack's and the tests' fakes have their own certificate authority, and a
// process-wide SSL_CERT_FILE cannot differ between two stacks in one test binary.
func WithRootCAs(roots *x509.CertPool) Option {
	return func(o *options) { o.roots = roots }
}

// WithClock makes the run trigger's cursor and the retry memories read now instead of the system
// clock. The local stack's fake workspace ends runs on a clock its tests move forward; the cursor
// compares those end times with "now", so both must read the same clock (docs/connector.md, "When
// a job run ends").
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// New builds the HTTP surface and everything behind it; the returned func stops the background
// work (the signing-key refresh). The transports are each upstream's own (entra.NewTransport,
// databricks.NewTransport), shared by everything that calls that upstream.
func New(cfg config.Config, logger zerolog.Logger, opts ...Option) (http.Handler, func(), error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	entraHTTP := &http.Client{Transport: entra.NewTransport(o.roots), Timeout: 30 * time.Second}
	entraMetadata := entra.NewMetadata() // the tenant's discovery documents, fetched once for both
	validator, err := entra.NewValidator(entra.ValidatorOptions{
		AuthorityHost: cfg.AuthorityHost,
		TenantID:      cfg.TenantID,
		Audiences:     cfg.Audiences,
		Scope:         cfg.Scope,
		AppRole:       cfg.AppRole,
		AppCallers:    cfg.AppCallers,
		ClientApps:    cfg.ClientApps,
		HTTPClient:    entraHTTP,
		Metadata:      entraMetadata,
		Logger:        logger,
	})
	if err != nil {
		return nil, nil, err
	}
	exchanger, err := entra.NewExchanger(entra.ExchangerOptions{
		AuthorityHost: cfg.AuthorityHost,
		TenantID:      cfg.TenantID,
		ClientID:      cfg.ClientID,
		Credential: entra.CredentialOptions{
			ClientSecret:            entra.Token(cfg.ClientSecret),
			CertificatePath:         cfg.CertificatePath,
			CertificatePassword:     entra.Token(cfg.CertificatePassword),
			ManagedIdentityClientID: cfg.ManagedIdentityClient,
		},
		Scope:      azure.DatabricksScope,
		HTTPClient: entraHTTP,
		Metadata:   entraMetadata,
		Logger:     logger,
	})
	if err != nil {
		validator.Close()
		return nil, nil, err
	}
	workspaces := make(map[string]api.Workspace, len(cfg.Workspaces))
	transport := databricks.NewTransport(o.roots)
	for name, host := range cfg.Workspaces {
		client, err := databricks.New(databricksOptions(cfg, host, transport))
		if err != nil {
			validator.Close()
			return nil, nil, fmt.Errorf("workspace %s: %w", name, err)
		}
		workspaces[name] = client
	}
	h := api.NewServer(api.Deps{
		Config:         cfg,
		Logger:         logger,
		Auth:           validator,
		Exchanger:      exchanger,
		Workspaces:     workspaces,
		RequestTimeout: requestTimeout,
		Now:            o.now,
	})
	return h, func() { _ = validator.Close() }, nil
}

func newLogger(cfg config.Config, stdout io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = zerolog.InfoLevel
	}
	var w io.Writer = stdout
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: stdout, TimeFormat: time.RFC3339, NoColor: true}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str("service", "flowbricks").Logger()
}
