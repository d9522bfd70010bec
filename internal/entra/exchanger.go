package entra

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/rs/zerolog"
	"golang.org/x/sync/singleflight"

	"github.com/flowbricks/flowbricks/internal/azure"
)

// Defaults for [ExchangerOptions].
const (
	DefaultCacheSize       = 10_000
	DefaultRefreshBefore   = 5 * time.Minute
	DefaultExchangeTimeout = 30 * time.Second

	// DefaultCallerExchangesPerMinute and DefaultCallerBurst bound the exchanges one caller can
	// cause: a burst of 20 distinct tokens, then one every 3 s. A caller's tokens are renewed
	// about hourly per client (connection, managed identity), so real callers stay far below.
	DefaultCallerExchangesPerMinute = 20
	DefaultCallerBurst              = 20
	// DefaultCallerCacheEntries is how many exchanged tokens one caller keeps cached at once.
	DefaultCallerCacheEntries = 16
)

// ExchangerOptions configures [NewExchanger].
type ExchangerOptions struct {
	// AuthorityHost (empty = public cloud), TenantID and ClientID of the flowbricks API registration.
	AuthorityHost, TenantID, ClientID string
	// Credential is the API's own credential (exactly one kind).
	Credential CredentialOptions
	// Scope requested; default azure.DatabricksScope.
	Scope string
	// HTTPClient for Entra (and the managed identity endpoint); nil = a default client with a timeout.
	HTTPClient *http.Client
	// Metadata keeps Entra's discovery documents; pass the Validator's (ValidatorOptions.Metadata)
	// to fetch the tenant's v2 document once for both. nil = the Exchanger's own.
	Metadata *Metadata
	// CacheSize bounds the number of cached exchanged tokens; default DefaultCacheSize.
	CacheSize int
	// RefreshBefore: a cached token is served only while it has more than this left; default
	// DefaultRefreshBefore.
	RefreshBefore time.Duration
	// ExchangeTimeout bounds one exchange (all Entra calls it makes, retries included); it runs on
	// its own context so one caller giving up does not fail the others waiting for it.
	// Default DefaultExchangeTimeout.
	ExchangeTimeout time.Duration
	// CallerExchangesPerMinute and CallerBurst bound the exchanges (calls to Entra) one caller —
	// one tenant + object id — can cause: a token bucket of CallerBurst that refills at
	// CallerExchangesPerMinute. Past it TokenFor and Refresh fail with Kind Throttled instead of
	// calling Entra. Defaults DefaultCallerExchangesPerMinute and DefaultCallerBurst.
	CallerExchangesPerMinute, CallerBurst int
	// CallerCacheEntries bounds the cache entries of one caller: a caller's new entry evicts that
	// caller's oldest, never another caller's. Default DefaultCallerCacheEntries.
	CallerCacheEntries int
	// Now is the clock for cache expiry and the per-caller bound; default time.Now.
	Now func() time.Time
	// Logger gets exchange failures (kind, AADSTS, trace/correlation ids). Tokens are never logged.
	Logger zerolog.Logger
}

// CacheStats are counters of the exchanged-token cache.
type CacheStats struct {
	Hits, Misses uint64 // TokenFor calls for users served from / not from the cache
	Entries      int    // entries currently cached (some may be due for refresh)
	Evictions    uint64 // entries dropped because the cache was full
	// InflightDedupes counts calls that waited for an exchange another call had already started
	// for the same incoming token instead of calling Entra themselves.
	InflightDedupes uint64
	// CallerEvictions counts entries dropped because their caller reached CallerCacheEntries.
	CallerEvictions uint64
	// Throttled counts exchanges refused because their caller was over its bound.
	Throttled uint64
	// Refreshes counts Refresh calls (a token Databricks rejected).
	Refreshes uint64
}

// Exchanger gets Azure Databricks tokens for validated principals. Safe for concurrent use.
type Exchanger struct {
	tenantID, clientID, scope string
	cred                      *clientCredential
	clientOpts                azcore.ClientOptions
	disableInstanceDiscovery  bool
	refreshBefore, timeout    time.Duration
	now                       func() time.Time
	log                       zerolog.Logger
	callers                   *callerBounds

	mu    sync.Mutex // guards cache, app and callers' state (simplelru is not safe for concurrent use)
	cache *simplelru.LRU[[sha256.Size]byte, cacheEntry]
	app   azcore.TokenCredential // replaced by Refresh for an App principal
	sf    singleflight.Group

	hits, misses, evictions, dedupes, refreshes atomic.Uint64
}

type cacheEntry struct {
	token     Token
	expiresOn time.Time
	caller    callerKey
}

// NewExchanger checks the options and loads the credential (reading a certificate file if one is
// configured). It makes no network call.
func NewExchanger(o ExchangerOptions) (*Exchanger, error) {
	authority, err := normalizeAuthorityHost(o.AuthorityHost)
	if err != nil {
		return nil, fmt.Errorf("entra: exchanger: %w", err)
	}
	if err := checkTenantID(o.TenantID); err != nil {
		return nil, fmt.Errorf("entra: exchanger: %w", err)
	}
	if strings.TrimSpace(o.ClientID) == "" {
		return nil, errors.New("entra: exchanger: client ID is required")
	}
	scope := o.Scope
	if scope == "" {
		scope = azure.DatabricksScope
	}
	size := o.CacheSize
	switch {
	case size == 0:
		size = DefaultCacheSize
	case size < 0:
		return nil, errors.New("entra: exchanger: cache size must be positive")
	}
	refreshBefore := o.RefreshBefore
	switch {
	case refreshBefore == 0:
		refreshBefore = DefaultRefreshBefore
	case refreshBefore < 0:
		return nil, errors.New("entra: exchanger: refresh-before must not be negative")
	}
	timeout := o.ExchangeTimeout
	switch {
	case timeout == 0:
		timeout = DefaultExchangeTimeout
	case timeout < 0:
		return nil, errors.New("entra: exchanger: exchange timeout must be positive")
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	callers, err := newCallerBounds(o, size)
	if err != nil {
		return nil, fmt.Errorf("entra: exchanger: %w", err)
	}
	client := o.HTTPClient
	if client == nil {
		client = defaultHTTPClient(timeout)
	}
	metadata := o.Metadata
	if metadata == nil {
		metadata = newMetadata(now)
	}

	clientOpts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: authority, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
		Transport: newEntraTransport(client, metadata),
		// One retry at most for 408/429/5xx, never waiting long: the exchange timeout and the
		// caller's deadline bound the call anyway, and a Retry-After beyond MaxRetryDelay is
		// returned to the caller (as Unavailable + RetryAfter) instead of being slept on.
		Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
	}
	cred, err := loadCredential(o.Credential, authority, clientOpts)
	if err != nil {
		return nil, fmt.Errorf("entra: exchanger: %w", err)
	}
	disableID := !isMicrosoftAuthorityHost(authority)
	app, err := cred.appCredential(o.TenantID, o.ClientID, clientOpts, disableID)
	if err != nil {
		return nil, fmt.Errorf("entra: exchanger: app credential: %s", sanitize(err.Error(), cred.secretsForRedaction()))
	}
	e := &Exchanger{
		tenantID:                 o.TenantID,
		clientID:                 o.ClientID,
		scope:                    scope,
		cred:                     cred,
		clientOpts:               clientOpts,
		disableInstanceDiscovery: disableID,
		app:                      app,
		refreshBefore:            refreshBefore,
		timeout:                  timeout,
		now:                      now,
		log:                      o.Logger,
		callers:                  callers,
	}
	e.cache, err = simplelru.NewLRU[[sha256.Size]byte, cacheEntry](size, e.callers.forget)
	if err != nil {
		return nil, fmt.Errorf("entra: exchanger: %w", err)
	}
	return e, nil
}

// TokenFor returns an Azure Databricks access token for p and its expiry.
//
// For a User principal, incoming (the token [Validator.Validate] returned) is exchanged On-Behalf-Of;
// the result is cached under SHA-256(incoming) and concurrent calls for the same incoming token
// share one exchange. For an App principal (an allow-listed app caller) the handler's own
// client-credentials token is returned; incoming is not used. Errors are *ExchangeError, or a
// plain error for a principal of unknown kind.
func (e *Exchanger) TokenFor(ctx context.Context, p Principal, incoming Token) (Token, time.Time, error) {
	switch p.Kind {
	case User:
		if incoming == "" {
			return "", time.Time{}, &ExchangeError{Kind: InvalidAssertion, Description: "no user token to exchange"}
		}
		return e.userToken(ctx, p, incoming)
	case App:
		return e.appToken(ctx, p)
	default:
		return "", time.Time{}, errors.New("entra: exchanger: principal of unknown kind")
	}
}

// Refresh returns a newly obtained Azure Databricks token for p after Databricks rejected
// rejected, the token TokenFor (or an earlier Refresh) returned for the same incoming token.
//
// For a User principal the cache entry of incoming is dropped — unless it already holds another
// token than rejected, which a concurrent Refresh obtained and which is returned as it is — and
// incoming is exchanged On-Behalf-Of again, single-flighted with any other exchange of it.
//
// For an App principal the handler's client-credentials token is obtained anew with a new
// credential: azidentity caches that token inside the credential and would hand the rejected one
// back until it is within minutes of its expiry. The new credential replaces the old, so later
// requests are served the new token from its cache. If the current credential already serves
// another token than rejected, that token is returned.
//
// Refresh counts against the caller's exchange bound like TokenFor. Errors are *ExchangeError.
func (e *Exchanger) Refresh(ctx context.Context, p Principal, incoming, rejected Token) (Token, time.Time, error) {
	e.refreshes.Add(1)
	switch p.Kind {
	case User:
		if incoming == "" {
			return "", time.Time{}, &ExchangeError{Kind: InvalidAssertion, Description: "no user token to exchange"}
		}
		key := tokenKey(incoming.Reveal())
		e.drop(key, rejected)
		return e.exchangeShared(ctx, p, incoming, key)
	case App:
		return e.refreshApp(ctx, p, rejected)
	default:
		return "", time.Time{}, errors.New("entra: exchanger: principal of unknown kind")
	}
}

// drop removes the cache entry of key if it still holds rejected. An entry that another Refresh
// already replaced stays, and is what the exchange that follows finds and returns.
func (e *Exchanger) drop(key [sha256.Size]byte, rejected Token) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur, ok := e.cache.Peek(key); ok && cur.token == rejected {
		e.cache.Remove(key)
	}
}

// appRefreshKey is the singleflight key of Refresh for App principals; user keys are 32-byte hashes.
const appRefreshKey = "app-refresh"

func (e *Exchanger) refreshApp(ctx context.Context, p Principal, rejected Token) (Token, time.Time, error) {
	if tok, exp, err := e.appToken(ctx, p); err == nil && tok != rejected {
		return tok, exp, nil // replaced meanwhile (or azidentity renewed it)
	}
	ch := e.sf.DoChan(appRefreshKey, func() (any, error) {
		if err := e.admit(ctx, p); err != nil {
			return nil, err
		}
		app, err := e.cred.appCredential(e.tenantID, e.clientID, e.clientOpts, e.disableInstanceDiscovery)
		if err != nil {
			return nil, &ExchangeError{Kind: Misconfigured, Description: "building the app credential: " + sanitize(err.Error(), e.cred.secretsForRedaction())}
		}
		xctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.timeout)
		defer cancel()
		tok, exp, err := e.appTokenFrom(xctx, p, app)
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.app = app
		e.mu.Unlock()
		return cacheEntry{token: tok, expiresOn: exp}, nil
	})
	ent, _, err := awaitShared(ctx, ch, "token refresh")
	return ent.token, ent.expiresOn, err
}

// awaitShared waits for the result of a shared (singleflight) exchange, or until ctx ends: the
// exchange goes on for the others waiting for it. answered says whether the result arrived.
func awaitShared(ctx context.Context, ch <-chan singleflight.Result, what string) (ent cacheEntry, answered bool, err error) {
	select {
	case r := <-ch:
		if r.Err != nil {
			return cacheEntry{}, true, r.Err
		}
		return r.Val.(cacheEntry), true, nil
	case <-ctx.Done():
		return cacheEntry{}, false, &ExchangeError{Kind: Unavailable, Description: "request ended while waiting for the " + what, RetryAfter: defaultRetryAfter, cause: ctx.Err()}
	}
}

// Stats returns the cache counters.
func (e *Exchanger) Stats() CacheStats {
	e.mu.Lock()
	n := e.cache.Len()
	e.mu.Unlock()
	return CacheStats{
		Hits:            e.hits.Load(),
		Misses:          e.misses.Load(),
		Entries:         n,
		Evictions:       e.evictions.Load(),
		InflightDedupes: e.dedupes.Load(),
		CallerEvictions: e.callers.evictions.Load(),
		Throttled:       e.callers.throttled.Load(),
		Refreshes:       e.refreshes.Load(),
	}
}

// lookup returns a cached entry that still has more than refreshBefore left. An entry that does
// not is removed (so it is never returned again) and reported as a miss.
func (e *Exchanger) lookup(key [sha256.Size]byte) (cacheEntry, bool) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	ent, ok := e.cache.Get(key)
	if !ok {
		return cacheEntry{}, false
	}
	if ent.expiresOn.Sub(now) > e.refreshBefore {
		return ent, true
	}
	e.cache.Remove(key)
	return cacheEntry{}, false
}

// store caches ent under key. A caller at its CallerCacheEntries bound first loses its own oldest
// entry, so no caller can push other callers' entries out of the cache by presenting many tokens.
func (e *Exchanger) store(key [sha256.Size]byte, ent cacheEntry) {
	if ent.expiresOn.Sub(e.now()) <= e.refreshBefore {
		return // would never be served
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cache.Contains(key) { // the same incoming token, hence the same caller: replace the token
		e.cache.Add(key, ent)
		return
	}
	if oldest, full := e.callers.oldestIfFull(ent.caller); full {
		e.cache.Remove(oldest) // forget drops it from the caller's list
		e.callers.evictions.Add(1)
	}
	if e.cache.Add(key, ent) {
		e.evictions.Add(1)
	}
	e.callers.remember(ent.caller, key)
}

func (e *Exchanger) userToken(ctx context.Context, p Principal, incoming Token) (Token, time.Time, error) {
	key := tokenKey(incoming.Reveal())
	if ent, ok := e.lookup(key); ok {
		e.hits.Add(1)
		return ent.token, ent.expiresOn, nil
	}
	e.misses.Add(1)
	return e.exchangeShared(ctx, p, incoming, key)
}

// exchangeShared is the miss path of userToken, kept separate so the closure below does not make
// the hit path allocate.
func (e *Exchanger) exchangeShared(ctx context.Context, p Principal, incoming Token, key [sha256.Size]byte) (Token, time.Time, error) {
	// singleflight shares one exchange between concurrent callers for the same incoming token. The
	// exchange runs on a context detached from the caller that happened to start it (values kept,
	// cancellation not, own deadline), and each caller waits on its own ctx: a caller that gives up
	// does not cancel the exchange the others are waiting for, and its result still lands in the cache.
	ran := false // written only by this caller's fn, read only after its result arrived
	ch := e.sf.DoChan(string(key[:]), func() (any, error) {
		ran = true
		if ent, ok := e.lookup(key); ok { // an exchange that finished just before this one started
			return ent, nil
		}
		if err := e.admit(ctx, p); err != nil {
			return nil, err
		}
		xctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.timeout)
		defer cancel()
		ent, err := e.exchangeOBO(xctx, p, incoming)
		if err != nil {
			return nil, err
		}
		e.store(key, ent)
		return ent, nil
	})
	ent, answered, err := awaitShared(ctx, ch, "token exchange")
	if answered && !ran {
		e.dedupes.Add(1)
	}
	return ent.token, ent.expiresOn, err
}

func (e *Exchanger) exchangeOBO(ctx context.Context, p Principal, incoming Token) (cacheEntry, error) {
	tr := &callTrace{}
	ctx = withTrace(ctx, tr)
	cred, err := e.cred.oboCredential(e.tenantID, e.clientID, incoming.Reveal(), &azidentity.OnBehalfOfCredentialOptions{
		ClientOptions:            e.clientOpts,
		DisableInstanceDiscovery: e.disableInstanceDiscovery,
	})
	if err != nil {
		return cacheEntry{}, &ExchangeError{Kind: Misconfigured, Description: "building the on-behalf-of credential: " + sanitize(err.Error(), e.redactions(incoming))}
	}
	at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{e.scope}})
	if err != nil {
		xe := classify(ctx, err, tr, e.redactions(incoming)...)
		xe.Action = e.cred.adminAction(e.tenantID, xe)
		e.logFailure(ctx, xe, "on_behalf_of", p)
		return cacheEntry{}, xe
	}
	e.logger(ctx).Debug().Str("flow", "on_behalf_of").Str("oid", p.ObjectID).Time("expires_on", at.ExpiresOn).Msg("entra: token exchanged")
	return cacheEntry{token: Token(at.Token), expiresOn: at.ExpiresOn, caller: callerOf(p)}, nil
}

func (e *Exchanger) appCredential() azcore.TokenCredential {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.app
}

func (e *Exchanger) appToken(ctx context.Context, p Principal) (Token, time.Time, error) {
	return e.appTokenFrom(ctx, p, e.appCredential())
}

func (e *Exchanger) appTokenFrom(ctx context.Context, p Principal, app azcore.TokenCredential) (Token, time.Time, error) {
	tr := &callTrace{}
	xctx, cancel := context.WithTimeout(withTrace(ctx, tr), e.timeout)
	defer cancel()
	at, err := app.GetToken(xctx, policy.TokenRequestOptions{Scopes: []string{e.scope}})
	if err != nil {
		xe := classify(xctx, err, tr, e.redactions("")...)
		xe.Action = e.cred.adminAction(e.tenantID, xe)
		e.logFailure(xctx, xe, "client_credentials", p)
		return "", time.Time{}, xe
	}
	return Token(at.Token), at.ExpiresOn, nil
}

func (e *Exchanger) redactions(incoming Token) []string {
	return append(e.cred.secretsForRedaction(), incoming.Reveal())
}

// logger is the request's logger when ctx carries one (it has the request and workflow run ids),
// else the Exchanger's own.
func (e *Exchanger) logger(ctx context.Context) *zerolog.Logger {
	return requestLogger(ctx, &e.log)
}

// requestLogger returns the zerolog logger in ctx (hlog puts one there per request), or fallback.
func requestLogger(ctx context.Context, fallback *zerolog.Logger) *zerolog.Logger {
	if l := zerolog.Ctx(ctx); l.GetLevel() != zerolog.Disabled {
		return l
	}
	return fallback
}

func (e *Exchanger) logFailure(ctx context.Context, xe *ExchangeError, flow string, p Principal) {
	level := zerolog.WarnLevel
	if xe.Kind == Misconfigured {
		level = zerolog.ErrorLevel // not the caller's fault: every request fails until an administrator acts
	}
	e.logger(ctx).WithLevel(level).
		Str("flow", flow).
		Str("kind", xe.Kind.String()).
		Str("aadsts", xe.AADSTS).
		Str("trace_id", xe.TraceID).
		Str("correlation_id", xe.CorrelationID).
		Str("oid", p.ObjectID).
		Str("app_id", p.AppID).
		Str("description", xe.Description).
		Str("action", xe.Action).
		Msg("entra: token exchange failed")
}
