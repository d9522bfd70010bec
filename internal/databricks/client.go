package databricks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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

	"github.com/flowbricks/flowbricks/internal/secret"
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
)

// MaxIdempotencyToken is Databricks' limit on a run-now idempotency_token, in characters (Jobs
// API 2.2 run-now reference). RunNow refuses a longer one; the HTTP surface checks it first so a
// bad request costs no upstream call.
const MaxIdempotencyToken = 64

// Options configure a [Client].
type Options struct {
	// Host is the workspace URL, https://adb-<id>.<n>.azuredatabricks.net
	// (http:// is accepted for local fakes). Scheme and host only.
	Host string
	// Transport is the HTTP transport; nil means [NewTransport] with the
	// system roots. It must not implement the SDK's test hook SkipRetryOnIO,
	// which would switch authentication off.
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
//     construction fail even with custom credentials: docs/architecture.md, databricks-sdk-go).
//   - HostMetadataResolver returning (nil, nil): no unauthenticated
//     GET /.well-known/databricks-config (docs/architecture.md, databricks-sdk-go).
//   - RateLimitPerSecond: effectively unlimited, see sdkRateLimitPerSecond.
//   - HTTPTransport: the given (or default) transport behind boundedTransport,
//     which caps how much of each answer is read.
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
		transport = NewTransport(nil)
	}
	transport = boundedTransport{next: transport}
	cfg := &config.Config{
		Host:                 host,
		Credentials:          oboCredentials{},
		Loaders:              []config.Loader{noLoader{}},
		HostMetadataResolver: noHostMetadata,
		RateLimitPerSecond:   sdkRateLimitPerSecond,
		RetryTimeoutSeconds:  ceilSeconds(retryTimeout),
		// The SDK's inactivity timeout; our context deadline is the real bound. It leaves room
		// for the longest wait_timeout, during which Databricks sends nothing on purpose
		// (ExecuteStatement's deadline grows by the wait, see statements_client.go).
		HTTPTimeoutSeconds: ceilSeconds(requestTimeout + MaxStatementWait),
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

// NewTransport is the HTTP transport for Databricks workspaces, and the one a
// [Client] uses when [Options.Transport] is nil. It speaks HTTP/1.1 only: every
// request a flow makes is one Jobs API call, so Databricks traffic is many
// small concurrent requests, and over HTTP/2 they share one connection whose
// stream bookkeeping, HPACK, flow control and goroutine handoffs cost the
// handler 10-19% more CPU per get-run than HTTP/1.1 keep-alive connections
// (measured with `devstack bench`: docs/performance.md). Up to 64 idle
// connections per host stay open — the SDK's default keeps only GOMAXPROCS+1,
// too few for one client shared by every user — so a warm request makes no TLS
// handshake. roots are the certificate authorities to trust; nil means the
// system roots (on Linux SSL_CERT_FILE / SSL_CERT_DIR), a pool is for a test or
// local workspace with its own CA.
func NewTransport(roots *x509.CertPool) *http.Transport {
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		// No "h2" in ALPN and an empty (non-nil) TLSNextProto: a server that
		// prefers HTTP/2 gets HTTP/1.1, never HTTP/1.1 spoken on an h2 connection.
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{},
		Protocols:       new(http.Protocols),
	}
	t.Protocols.SetHTTP1(true)
	return t
}

// Bounds on what is read of one answer. The SDK reads every JSON answer into
// memory whole (common.NewResponseWrapper) and only then decodes it, so
// without a bound one answer could take any amount of memory.
const (
	// maxResponseBytes bounds every answer but get-output: a runs/get page
	// (at most 100 tasks) or a jobs/list page is far below it.
	maxResponseBytes = 8 << 20
	// maxOutputResponseBytes bounds one get-output answer: Databricks returns
	// at most the first 5 MB of a notebook result and the last 5 MB of the
	// logs, JSON-escaped, plus error traces and run metadata.
	maxOutputResponseBytes = 24 << 20
	// maxStatementResponseBytes bounds one Statement Execution answer
	// (execute, get-statement, a result chunk): an INLINE result may hold
	// up to 25 MiB, counted in Databricks' internal representation, and
	// one chunk may carry most of it as JSON_ARRAY text, in which every
	// value is quoted, escaped and comma-separated. Twice the limit keeps a
	// flow's own byte_limit (up to FLOWBRICKS_SQL_MAX_BYTES) from being cut
	// by this bound (docs/architecture.md, Databricks SQL Statement
	// Execution API).
	maxStatementResponseBytes = 2 * maxInlineResultBytes
)

// boundedTransport makes reading an answer past its bound fail with
// *http.MaxBytesError, which the SDK returns wrapped (it does not retry it).
type boundedTransport struct{ next http.RoundTripper }

func (t boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	limit := int64(maxResponseBytes)
	switch {
	case r.URL.Path == pathGetOutput:
		limit = maxOutputResponseBytes
	case isStatementPath(r.URL.Path):
		limit = maxStatementResponseBytes
	}
	// A nil ResponseWriter is fine: MaxBytesReader only uses it to tell an
	// http.Server about an oversized request body.
	resp.Body = http.MaxBytesReader(nil, resp.Body, limit)
	return resp, nil
}

// TokenSource returns the Databricks bearer token to act with. fresh=false asks
// for the token to use now (normally a cached one); fresh=true says Databricks
// rejected the token it returned before (expired, revoked, about to expire)
// and asks for a newly obtained one. A source that cannot get a fresh token
// returns an error; the client then fails with the rejection it got.
//
// The token stays a [secret.Token] all the way to the request: only the
// credentials provider reveals it, to set the Authorization header (and the
// error classification, to redact it from what Databricks answers).
type TokenSource func(ctx context.Context, fresh bool) (secret.Token, error)

// sourceKey is the context key of the request's TokenSource; tokenKey the key
// of the token one attempt of an operation sends (set by the client itself).
type (
	sourceKey struct{}
	tokenKey  struct{}
)

// WithTokenSource returns a context whose calls take their Databricks bearer
// token from src (the token obtained On-Behalf-Of the signed-in user). When
// Databricks rejects the token ([ErrTokenRejected]), an operation asks src once
// for a fresh token and repeats itself once with it; a second rejection is
// returned. The tokens are only ever written to the Authorization header of
// requests to the configured host.
func WithTokenSource(ctx context.Context, src TokenSource) context.Context {
	return context.WithValue(ctx, sourceKey{}, src)
}

// errNoFreshToken is what the source of [WithToken] answers to fresh=true.
var errNoFreshToken = errors.New("no fresh token: the context carries a fixed token")

// WithToken returns a context carrying one fixed Databricks bearer token. A
// rejected token is not retried: there is no other to try.
func WithToken(ctx context.Context, token secret.Token) context.Context {
	return WithTokenSource(ctx, func(_ context.Context, fresh bool) (secret.Token, error) {
		if fresh {
			return "", errNoFreshToken
		}
		return token, nil
	})
}

func sourceFrom(ctx context.Context) (TokenSource, bool) {
	src, _ := ctx.Value(sourceKey{}).(TokenSource)
	return src, src != nil
}

// headerValue is where the Databricks token is revealed to be sent: the
// Authorization header's value, or false when the token cannot be one. It must
// be non-empty, visible ASCII, no spaces (JWTs and PATs are), so that no token
// can split or add a header.
func headerValue(tok secret.Token) (string, bool) {
	v := tok.Reveal()
	if v == "" {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' {
			return "", false
		}
	}
	return "Bearer " + v, true
}

// attemptToken is what one attempt of an operation sends: the token (for redaction) and its
// Authorization header value, built once per attempt rather than once per check and request
// (a Databricks token is 1-2.5 KB: docs/performance.md, What was changed).
type attemptToken struct {
	token  secret.Token
	header string
}

// tokenFrom returns the token of the current attempt (see [Client.run]).
func tokenFrom(ctx context.Context) secret.Token {
	return attemptFrom(ctx).token
}

func attemptFrom(ctx context.Context) *attemptToken {
	if a, ok := ctx.Value(tokenKey{}).(*attemptToken); ok {
		return a
	}
	return &attemptToken{}
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
	a := attemptFrom(r.Context())
	if a.header == "" {
		return ErrNoToken
	}
	r.Header.Set("Authorization", a.header)
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

// run is every operation's frame: it adds the deadline (one for the whole
// operation, retry included) and the quiet logger, takes the token from the
// context's [TokenSource], and calls fn with a context whose requests carry
// that token. When Databricks rejects the token (ErrTokenRejected), it asks the
// source once for a fresh token and calls fn once more; a request that is not
// safe to repeat must therefore be idempotent (run-now always carries an
// idempotency token). Errors of fn are classified here; an error of the source
// is returned wrapped, unchanged in kind, so the caller can tell its own
// failure (e.g. the token exchange) from Databricks'.
func (c *Client) run(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	return c.runFor(ctx, op, c.requestTimeout, fn)
}

// runFor is run with another deadline, for an operation that Databricks holds
// on purpose (ExecuteStatement's wait_timeout).
func (c *Client) runFor(ctx context.Context, op string, timeout time.Duration, fn func(ctx context.Context) error) error {
	src, ok := sourceFrom(ctx)
	if !ok {
		return classify(ctx, op, "", ErrNoToken)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, quiet := logger.Get(ctx).(quietLogger); !quiet {
		ctx = logger.NewContext(ctx, quietLogger{next: logger.Get(ctx)})
	}
	tok, err := src(ctx, false)
	if err != nil {
		return fmt.Errorf("databricks %s: getting a token: %w", op, err)
	}
	header, ok := headerValue(tok)
	if !ok {
		return classify(ctx, op, "", ErrNoToken)
	}
	err = c.attempt(ctx, op, &attemptToken{token: tok, header: header}, fn)
	if !errors.Is(err, ErrTokenRejected) {
		return err
	}
	fresh, srcErr := src(ctx, true)
	switch {
	case errors.Is(srcErr, errNoFreshToken):
		return err
	case srcErr != nil:
		return fmt.Errorf("%s; getting a fresh token failed: %w", err.Error(), srcErr)
	case fresh == tok:
		// The same token again would be rejected again.
		return err
	}
	if header, ok = headerValue(fresh); !ok {
		return err
	}
	return c.attempt(ctx, op, &attemptToken{token: fresh, header: header}, fn)
}

// attempt calls fn once with a's token and classifies its error.
func (c *Client) attempt(ctx context.Context, op string, a *attemptToken, fn func(ctx context.Context) error) error {
	if err := fn(context.WithValue(ctx, tokenKey{}, a)); err != nil {
		return classify(ctx, op, a.token, err)
	}
	return nil
}

func invalid(op, detail string) error {
	return &Error{Kind: ErrInvalidRequest, Op: op, Detail: detail}
}
