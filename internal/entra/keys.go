package entra

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"golang.org/x/time/rate"
)

// signingKeys is the tenant's published key set as the token parser reads it (the jwkset.Storage
// behind keyfunc). jwkset's HTTP storages do the fetching: each JWKS URI once at start (which must
// succeed), then hourly in the background, keeping the last known keys when a fetch fails
// (docs/security.md, "What is validated and why"). signingKeys adds the refresh that a token
// with an unknown kid triggers, for an emergency key rollover that the hourly refresh would
// notice too late.
//
// keyfunc has that refresh built in (Override.RefreshUnknownKID), but not the policy needed here:
// its limiter is shared by every kid, so one made-up kid spends the budget and a genuinely new
// key is refused until the budget refills; callers that find it spent are refused at once even
// while a refresh that may bring their key is under way; and its rate.Limiter reads the wall
// clock, so the policy cannot be shown in fake time. Here: at most one refresh per interval for
// the whole key set, whoever triggers it (a refresh fetches every key Entra publishes, so one
// triggered by a junk kid also brings a rotated key); every request with an unknown kid that
// arrives while it runs waits for it (at most unknownKIDWaitMax) and looks again; the refresh
// runs detached from the request that started it, so that request giving up does not cancel it
// for the others.
type signingKeys struct {
	jwkset.Storage                // the cached keys: reading never fetches
	refresher      jwkset.Storage // the same storages; a kid missing from all of them refreshes each
	interval       time.Duration
	clock          func() time.Time
	baseCtx        context.Context // Close cancels it, ending a refresh under way

	mu      sync.Mutex
	last    time.Time     // start of the last unknown-kid refresh; zero before the first
	running chan struct{} // closed when the refresh under way ends; nil when none is
}

// signingKeysOptions configure startSigningKeys.
type signingKeysOptions struct {
	uris     []string
	client   *http.Client
	interval time.Duration    // minimum time between unknown-kid refreshes
	clock    func() time.Time // for interval
	// onError reports a failed refresh of the JWKS at uri; ctx is the triggering request's
	// (detached) context for an unknown-kid refresh, a background one otherwise.
	onError func(uri string) func(ctx context.Context, err error)
	// onKeys gets the key ids published at all URIs together after every fetch that replaced a
	// key set (the first fetch, the hourly refresh, an unknown-kid refresh), in order; nil = none.
	onKeys func(kids map[string]struct{})
}

// startSigningKeys fetches every JWKS URI once and starts their hourly refresh, which runs until
// ctx ends. It fails if any first fetch fails; the caller then cancels ctx to stop the refresh of
// the URIs that did start.
func startSigningKeys(ctx context.Context, o signingKeysOptions) (*signingKeys, error) {
	stores := make(map[string]jwkset.Storage, len(o.uris))
	published := &publishedKIDs{byURI: make(map[string][]string, len(o.uris)), onKeys: o.onKeys}
	for _, u := range o.uris {
		s, err := jwkset.NewStorageFromHTTP(u, jwkset.HTTPClientStorageOptions{
			Storage:                   &watchedStorage{MemoryJWKSet: jwkset.NewMemoryStorage(), replaced: func(kids []string) { published.set(u, kids) }},
			Client:                    o.client,
			Ctx:                       ctx,
			HTTPTimeout:               metadataTimeout,
			NoErrorReturnFirstHTTPReq: false, // a failed first fetch fails the initialisation
			RefreshErrorHandler:       o.onError(u),
			RefreshInterval:           keysRefreshInterval,
		})
		if err != nil {
			return nil, fmt.Errorf("fetching signing keys: %w", err)
		}
		stores[u] = s
	}
	cached, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{HTTPURLs: stores})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	// An unlimited limiter: signingKeys decides when to refresh; jwkset only carries it out.
	refresher, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          maps.Clone(stores),
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return &signingKeys{Storage: cached, refresher: refresher, interval: o.interval, clock: o.clock, baseCtx: ctx}, nil
}

// KeyRead returns the key with the given kid. A kid not in the cached set starts a refresh of the
// whole set (if the interval allows one) or joins the one under way, then looks again.
func (k *signingKeys) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	jwk, err := k.Storage.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) {
		return jwk, err
	}
	done := k.refresh(ctx, kid)
	if done != nil {
		wait, cancel := context.WithTimeout(ctx, unknownKIDWaitMax)
		defer cancel()
		select {
		case <-done:
		case <-wait.Done():
			return jwkset.JWK{}, err
		}
	}
	// Also when the interval refused a refresh: one may have ended since the first look.
	return k.Storage.KeyRead(ctx, kid)
}

// refresh returns a channel closed when the refresh under way ends: one already running, or one
// it starts now. It returns nil when none is running and the last one started less than an
// interval ago.
func (k *signingKeys) refresh(ctx context.Context, kid string) <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.running != nil {
		return k.running
	}
	now := k.clock()
	if !k.last.IsZero() && now.Sub(k.last) < k.interval {
		return nil
	}
	k.last = now
	done := make(chan struct{})
	k.running = done
	// Keeps the request's values (its logger, for the error handler), not its cancellation.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*metadataTimeout)
	stop := context.AfterFunc(k.baseCtx, cancel)
	go func() {
		defer func() {
			stop()
			cancel()
			k.mu.Lock()
			k.running = nil
			k.mu.Unlock()
			close(done)
		}()
		// Refreshes every storage (stopping early once one has the kid); failures go to the
		// storages' error handlers and the last known keys stay.
		_, _ = k.refresher.KeyRead(rctx, kid)
	}()
	return done
}

// watchedStorage is jwkset's memory storage that reports the key ids of every key set it is given.
// Every fetch of a JWKS URI — the first, the hourly refresh, an unknown-kid refresh — replaces
// the whole set through KeyReplaceAll, so this is where a withdrawn key becomes visible.
type watchedStorage struct {
	*jwkset.MemoryJWKSet
	replaced func(kids []string)
}

// KeyReplaceAll implements jwkset.Storage: the keys are replaced first, then reported, so a
// withdrawn key can no longer verify anything by the time its loss is reported.
func (s *watchedStorage) KeyReplaceAll(ctx context.Context, given []jwkset.JWK) error {
	if err := s.MemoryJWKSet.KeyReplaceAll(ctx, given); err != nil {
		return err
	}
	kids := make([]string, 0, len(given))
	for _, k := range given {
		kids = append(kids, k.Marshal().KID)
	}
	s.replaced(kids)
	return nil
}

// publishedKIDs joins the key ids of every JWKS URI (a token is verified by a key of any of them)
// and reports the union each time one URI's set is replaced.
type publishedKIDs struct {
	mu     sync.Mutex // also orders the reports: two URIs refreshed at once report one after the other
	byURI  map[string][]string
	onKeys func(kids map[string]struct{})
}

func (p *publishedKIDs) set(uri string, kids []string) {
	if p.onKeys == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byURI[uri] = kids
	union := make(map[string]struct{}, len(kids))
	for _, ks := range p.byURI {
		for _, k := range ks {
			union[k] = struct{}{}
		}
	}
	p.onKeys(union)
}
