package entra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// concurrently starts fn(0) … fn(n-1), each in its own goroutine; wait waits for all of them and
// fails the test with the first error.
func concurrently(t *testing.T, n int, fn func(i int) error) (wait func()) {
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs <- fn(i) })
	}
	return func() {
		t.Helper()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// heldDiscovery is an HTTP transport that keeps discovery GETs waiting until release.
type heldDiscovery struct {
	base    http.RoundTripper
	gate    chan struct{}
	fetches atomic.Int32 // discovery requests that reached this transport
}

func newHeldDiscovery(base http.RoundTripper) *heldDiscovery {
	return &heldDiscovery{base: base, gate: make(chan struct{})}
}

func (h *heldDiscovery) release() { close(h.gate) }

func (h *heldDiscovery) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
		h.fetches.Add(1)
		select {
		case <-h.gate:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return h.base.RoundTrip(r)
}

// askingForMetadata counts the metadata requests the credentials make, before the cache sees them.
type askingForMetadata struct {
	next  policy.Transporter
	count atomic.Int32
}

func (a *askingForMetadata) Do(r *http.Request) (*http.Response, error) {
	if isMetadataRequest(r) {
		a.count.Add(1)
	}
	return a.next.Do(r)
}

// A cold burst of exchanges for distinct users — each with its own MSAL client, each asking for the
// tenant's discovery document — fetches it once. Entra holds the first fetch until every exchange
// has asked, so without the shared fetch each of them would reach Entra.
func TestColdBurstOfExchangesFetchesDiscoveryOnce(t *testing.T) {
	const users = 100
	f := newFakeEntra(t)
	held := newHeldDiscovery(f.Client().Transport)
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.HTTPClient = &http.Client{Transport: held} })
	asking := &askingForMetadata{next: e.clientOpts.Transport}
	e.clientOpts.Transport = asking

	tokens := make([]Token, users)
	for i := range tokens {
		tokens[i] = userToken(t, f, i+1)
	}
	wait := concurrently(t, users, func(i int) error {
		p := Principal{Kind: User, ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), TenantID: testTenant}
		_, _, err := e.TokenFor(context.Background(), p, tokens[i])
		return err
	})
	eventually(t, "every exchange asked for the discovery document", func() bool { return asking.count.Load() >= users })
	held.release()
	wait()
	if n := f.count("disco2") + f.count("disco1"); n > 2 || n < 1 {
		t.Fatalf("a cold burst of %d exchanges made %d discovery requests, want 1 (at most 2)", users, n)
	}
	if n := f.count("token"); n != users {
		t.Errorf("token requests = %d, want %d", n, users)
	}
}

// With one Metadata for both, the handler's cold burst — each request validated, then exchanged —
// fetches the tenant's two discovery documents once in all: the exchanges reuse the validator's v2
// document.
func TestValidatorAndExchangerShareTheDiscoveryDocument(t *testing.T) {
	const users = 100
	f := newFakeEntra(t)
	metadata := NewMetadata()
	v := newTestValidator(t, f, func(o *ValidatorOptions) { o.Metadata = metadata; o.Now = time.Now })
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.Metadata = metadata })

	tokens := make([]Token, users)
	for i := range tokens {
		tokens[i] = userToken(t, f, i+1)
	}
	concurrently(t, users, func(i int) error {
		p, incoming, err := v.Validate(context.Background(), "Bearer "+tokens[i].Reveal())
		if err != nil {
			return err
		}
		_, _, err = e.TokenFor(context.Background(), p, incoming)
		return err
	})()
	if d1, d2 := f.count("disco1"), f.count("disco2"); d1 != 1 || d2 != 1 {
		t.Fatalf("%d validated and exchanged first requests fetched discovery v1 %d and v2 %d times, want once each", users, d1, d2)
	}
}

// The shared fetch belongs to no caller: the one that started it giving up does not fail the
// others, and a failed answer is not kept (the next caller asks Entra again).
func TestMetadataFetchOutlivesItsStarterAndKeepsOnlySuccess(t *testing.T) {
	f := newFakeEntra(t)
	held := newHeldDiscovery(f.Client().Transport)
	m := newMetadata(time.Now)
	client := &http.Client{Transport: held}
	url := f.URL() + "/" + testTenant + "/v2.0/.well-known/openid-configuration"
	get := func(ctx context.Context) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m.do(req, client.Do)
	}

	starter, giveUp := context.WithCancel(context.Background())
	started := make(chan error, 1)
	go func() { _, err := get(starter); started <- err }()
	eventually(t, "the fetch reached Entra", func() bool { return held.fetches.Load() == 1 })
	waiter := make(chan *http.Response, 1)
	go func() {
		resp, err := get(context.Background())
		if err != nil {
			t.Error(err)
		}
		waiter <- resp
	}()
	giveUp()
	if err := waitFor(t, started); !errors.Is(err, context.Canceled) {
		t.Fatalf("the starter that gave up: %v", err)
	}
	held.release()
	resp := waitFor(t, waiter)
	if resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the caller still waiting got %v", resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `"issuer"`) {
		t.Errorf("not the discovery document: %s", body)
	}
	if n := f.count("disco2"); n != 1 {
		t.Fatalf("discovery requests = %d, want 1", n)
	}

	// A failing answer reaches its caller as it is and is not kept.
	m = newMetadata(time.Now)
	f.set(func(f *fakeEntra) { f.discoveryStatus = http.StatusServiceUnavailable })
	for range 2 {
		resp, err := get(context.Background())
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("failing discovery: %v %v", resp, err)
		}
	}
	f.set(func(f *fakeEntra) { f.discoveryStatus = 0 })
	if resp, err := get(context.Background()); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after recovery: %v %v", resp, err)
	}
	if n := f.count("disco2"); n != 4 {
		t.Errorf("discovery requests = %d, want 4 (1 + 2 failed, not kept + 1)", n)
	}
}

// MSAL asks for ".../openid-configuration?" and the validator without the "?": one document.
func TestMetadataKeyIgnoresAnEmptyQuery(t *testing.T) {
	a, _ := http.NewRequest(http.MethodGet, "https://Login.example/t/v2.0/.well-known/openid-configuration?", nil)
	b, _ := http.NewRequest(http.MethodGet, "https://login.example/t/v2.0/.well-known/openid-configuration", nil)
	c, _ := http.NewRequest(http.MethodGet, "https://login.example/common/discovery/instance?api-version=1.1", nil)
	if metadataKey(a.URL) != metadataKey(b.URL) {
		t.Errorf("%q and %q are different keys", metadataKey(a.URL), metadataKey(b.URL))
	}
	if !strings.HasSuffix(metadataKey(c.URL), "?api-version=1.1") {
		t.Errorf("the query of instance discovery is lost: %q", metadataKey(c.URL))
	}
}
