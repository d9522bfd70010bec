package databricks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/databricks/databricks-sdk-go/client"
	"github.com/databricks/databricks-sdk-go/config"
	"github.com/databricks/databricks-sdk-go/config/credentials"
	"github.com/databricks/databricks-sdk-go/logger"
	"github.com/databricks/databricks-sdk-go/service/jobs"
)

const (
	// DefaultRequestTimeout is the per-call deadline when Options.RequestTimeout is 0.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultRetryTimeout is the SDK retry window when Options.RetryTimeout is 0.
	DefaultRetryTimeout = 20 * time.Second

	// credentialsName is what the SDK reports as the auth type.
	credentialsName = "flowbricks-obo"

	// sdkRateLimitPerSecond disables, in practice, the SDK's client-side
	// token bucket. The SDK's default is 15 requests/second with burst 15 per
	// ApiClient, and flowbricks shares ONE client between all users: with the
	// default, 16 users polling at once would queue behind each other in our
	// own process. Databricks enforces its real per-workspace limits server
	// side (429, which the SDK retries and we classify as ErrThrottled). The
	// value is also the bucket's burst, so it must stay a plain int.
	sdkRateLimitPerSecond = 1 << 20

	// outputConcurrency bounds the get-output calls RunOutputs makes at once
	// for one run, so a 100-task run cannot burst 100 requests.
	outputConcurrency = 4

	// maxIdempotencyToken is Databricks' limit for run-now idempotency_token.
	maxIdempotencyToken = 64
)

// Options configure a [Client].
type Options struct {
	// Host is the workspace URL, https://adb-<id>.<n>.azuredatabricks.net
	// (http:// is accepted for local fakes). Scheme and host only.
	Host string
	// Transport is the HTTP transport. nil means a tuned *http.Transport:
	// keep-alive, up to 64 idle connections to the workspace, dial/TLS
	// timeouts, HTTP/2, proxy from the environment, the system roots (so
	// SSL_CERT_FILE works on Linux). It must not implement the SDK's test hook
	// SkipRetryOnIO, which would switch authentication off.
	Transport http.RoundTripper
	// RequestTimeout is the deadline added to every operation when the
	// caller's context has none or a later one. 0 means DefaultRequestTimeout.
	// It bounds the whole operation, SDK retries and pagination included.
	RequestTimeout time.Duration
	// RetryTimeout is how long the SDK keeps retrying 429/503/IO errors
	// (Config.RetryTimeoutSeconds, rounded up to whole seconds, at least 1s).
	// 0 means DefaultRetryTimeout. The context deadline still wins.
	RetryTimeout time.Duration
}

// Client calls the Jobs API for any user; it is safe for concurrent use and
// meant to be created once per workspace host.
type Client struct {
	dc             *client.DatabricksClient
	jobs           *jobs.JobsAPI
	cfg            *config.Config
	requestTimeout time.Duration
}

// New builds the client. It makes no network call.
//
// SDK configuration and why:
//   - Credentials: a strategy named "flowbricks-obo" whose provider reads the
//     token put in the request context by [WithToken] and sets
//     "Authorization: Bearer …"; with no token it fails the request before
//     anything is sent.
//   - Loaders: one no-op loader, so DATABRICKS_TOKEN, DATABRICKS_CLIENT_ID,
//     DATABRICKS_DEBUG_HEADERS, ~/.databrickscfg … are never read (with the
//     default loaders a stray DATABRICKS_TOKEN + DATABRICKS_CLIENT_ID makes
//     construction fail even with custom credentials, research §0.5).
//   - HostMetadataResolver returning (nil, nil): no unauthenticated
//     GET /.well-known/databricks-config (research §0.4).
//   - RateLimitPerSecond: effectively unlimited, see sdkRateLimitPerSecond.
//   - DebugHeaders false and DebugTruncateBytes left at the SDK default. The
//     SDK prints the Authorization header only in its debug request log and
//     only with DebugHeaders on (httpclient.recordRequestLog passes
//     DebugAuthorizationHeader: true). We never turn DebugHeaders on, the
//     no-op loader stops DATABRICKS_DEBUG_HEADERS from doing it, and every
//     call additionally runs with a context logger capped at Info (see
//     quietLogger), so even a process that sets the SDK's global
//     logger.DefaultLogger to debug gets no request dumps from this package.
//     We never modify logger.DefaultLogger.
func New(o Options) (*Client, error) {
	host, err := normalizeHost(o.Host)
	if err != nil {
		return nil, err
	}
	requestTimeout := o.RequestTimeout
	if requestTimeout <= 0 {
		requestTimeout = DefaultRequestTimeout
	}
	retryTimeout := o.RetryTimeout
	if retryTimeout <= 0 {
		retryTimeout = DefaultRetryTimeout
	}
	transport := o.Transport
	if transport == nil {
		transport = newTransport()
	}
	cfg := &config.Config{
		Host:                 host,
		Credentials:          oboCredentials{},
		Loaders:              []config.Loader{noLoader{}},
		HostMetadataResolver: noHostMetadata,
		RateLimitPerSecond:   sdkRateLimitPerSecond,
		RetryTimeoutSeconds:  ceilSeconds(retryTimeout),
		// The SDK's inactivity timeout; our context deadline is the real bound.
		HTTPTimeoutSeconds: ceilSeconds(requestTimeout),
		HTTPTransport:      transport,
		DebugHeaders:       false,
	}
	dc, err := client.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("databricks: configure SDK client: %w", err)
	}
	return &Client{
		dc:             dc,
		jobs:           jobs.NewJobs(dc),
		cfg:            cfg,
		requestTimeout: requestTimeout,
	}, nil
}

func normalizeHost(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("databricks: Options.Host is empty; expected https://adb-<id>.<n>.azuredatabricks.net")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("databricks: Options.Host %q is not a URL: %w", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("databricks: Options.Host %q must start with https:// (or http:// for local tests)", raw)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("databricks: Options.Host %q must be scheme://host[:port] with no path, query or credentials", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// newTransport is the default transport: the SDK's own default allows only
// GOMAXPROCS+1 idle connections per host, too few for one shared client
// serving many concurrent users.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		// RootCAs nil = system roots (SSL_CERT_FILE / SSL_CERT_DIR on Linux).
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// tokenKey is the context key of the per-request Databricks token.
type tokenKey struct{}

// WithToken returns a context carrying the Databricks bearer token for the
// calls made with it (the token obtained On-Behalf-Of the signed-in user).
// The token is only ever written to the Authorization header of requests to
// the configured host.
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// tokenFrom returns the context's token if it is usable as a header value:
// non-empty, visible ASCII, no spaces (JWTs and PATs are).
func tokenFrom(ctx context.Context) (string, bool) {
	tok, _ := ctx.Value(tokenKey{}).(string)
	if tok == "" {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c > '~' {
			return "", false
		}
	}
	return tok, true
}

// oboCredentials is the SDK credentials strategy. Configure runs once, lazily,
// with a background context, so it must not need a token; the provider it
// returns runs for every request, with the request's context.
type oboCredentials struct{}

func (oboCredentials) Name() string { return credentialsName }

func (oboCredentials) Configure(context.Context, *config.Config) (credentials.CredentialsProvider, error) {
	return credentials.CredentialsProviderFn(setBearer), nil
}

// setBearer is the per-request credentials provider. Returning an error makes
// the SDK fail the request without sending it and without retrying.
func setBearer(r *http.Request) error {
	tok, ok := tokenFrom(r.Context())
	if !ok {
		return ErrNoToken
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// noLoader replaces the SDK's environment and ~/.databrickscfg loaders.
type noLoader struct{}

func (noLoader) Name() string                   { return "flowbricks-no-loader" }
func (noLoader) Configure(*config.Config) error { return nil }

// noHostMetadata stops the SDK from fetching /.well-known/databricks-config.
func noHostMetadata(context.Context, string) (*config.HostMetadata, error) { return nil, nil }

// quietLogger wraps the SDK logger in effect for a call and drops everything
// below Info. The SDK's debug request log can contain the Authorization header
// (if DebugHeaders were ever on) and always contains request and response
// bodies (job parameters, notebook results); flowbricks' own logging decides
// what to log about a call, not the SDK.
type quietLogger struct{ next logger.Logger }

func (q quietLogger) Enabled(ctx context.Context, level logger.Level) bool {
	return level >= logger.LevelInfo && q.next.Enabled(ctx, level)
}
func (quietLogger) Tracef(context.Context, string, ...any) {}
func (quietLogger) Debugf(context.Context, string, ...any) {}
func (q quietLogger) Infof(ctx context.Context, format string, v ...any) {
	q.next.Infof(ctx, format, v...)
}
func (q quietLogger) Warnf(ctx context.Context, format string, v ...any) {
	q.next.Warnf(ctx, format, v...)
}
func (q quietLogger) Errorf(ctx context.Context, format string, v ...any) {
	q.next.Errorf(ctx, format, v...)
}

// call is the per-operation preamble: it checks the token (no token → no
// request), adds the deadline and the quiet logger.
type call struct {
	ctx    context.Context
	cancel context.CancelFunc
	op     string
	token  string
}

func (c *Client) begin(ctx context.Context, op string) (*call, error) {
	tok, ok := tokenFrom(ctx)
	if !ok {
		return nil, classify(ctx, op, "", ErrNoToken)
	}
	ctx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	if _, quiet := logger.Get(ctx).(quietLogger); !quiet {
		ctx = logger.NewContext(ctx, quietLogger{next: logger.Get(ctx)})
	}
	return &call{ctx: ctx, cancel: cancel, op: op, token: tok}, nil
}

// fail classifies a non-nil err for this call.
func (k *call) fail(err error) error {
	if err == nil {
		return nil
	}
	return classify(k.ctx, k.op, k.token, err)
}

func invalid(op, detail string) error {
	return &Error{Kind: ErrInvalidRequest, Op: op, Detail: detail}
}
