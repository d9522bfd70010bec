// Command handler is flowbricks' Azure Functions custom handler: the executable host.json names.
// The Functions host starts it with FUNCTIONS_CUSTOMHANDLER_PORT and forwards every HTTP request
// to it. This package only wires the internal packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/internal/api"
	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "flowbricks:", err)
		os.Exit(1)
	}
}

// requestTimeout bounds one request end to end; writeTimeout must be longer so the problem
// response for a timed-out request can still be written.
const (
	requestTimeout  = 60 * time.Second
	writeTimeout    = requestTimeout + 10*time.Second
	shutdownTimeout = 10 * time.Second
)

// run starts the handler and serves until ctx is cancelled (SIGTERM from the Functions host),
// then drains in-flight requests. It makes no network call before serving: keys, discovery
// documents and tokens are fetched on first use.
func run(ctx context.Context, _ []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stdout)

	handler, cleanup, err := newHandler(cfg, logger)
	if err != nil {
		return err
	}
	defer cleanup()

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on %s port %d: %w", config.EnvPort, cfg.Port, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info().Str("addr", ln.Addr().String()).Str("databricks_host", cfg.DatabricksHost).
		Str("credential", string(cfg.Credential)).Int("app_callers", len(cfg.AppCallers)).Msg("flowbricks ready")

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

// newHandler builds the HTTP surface and everything behind it.
func newHandler(cfg config.Config, logger zerolog.Logger) (http.Handler, func(), error) {
	entraHTTP := &http.Client{Transport: newTransport(), Timeout: 30 * time.Second}
	validator, err := entra.NewValidator(entra.ValidatorOptions{
		AuthorityHost: cfg.AuthorityHost,
		TenantID:      cfg.TenantID,
		Audiences:     cfg.Audiences,
		Scope:         cfg.Scope,
		AppRole:       cfg.AppRole,
		AppCallers:    cfg.AppCallers,
		HTTPClient:    entraHTTP,
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
		Scope:      config.DatabricksScope,
		HTTPClient: entraHTTP,
		Logger:     logger,
	})
	if err != nil {
		validator.Close()
		return nil, nil, err
	}
	workspaces := make(map[string]api.Jobs, len(cfg.Workspaces))
	transport := newTransport()
	for name, host := range cfg.Workspaces {
		client, err := databricks.New(databricks.Options{Host: host, Transport: transport})
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
	})
	return h, func() { _ = validator.Close() }, nil
}

// newTransport keeps connections to Entra ID and Databricks alive between requests; the
// default transport keeps only two idle connections per host, too few under a burst of flows.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	return t
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
