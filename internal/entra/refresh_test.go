package entra

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// exchangedOnce returns an exchanger that exchanged alice's incoming token once, and the
// Databricks token it got (the one the tests have Databricks reject).
func exchangedOnce(t *testing.T) (f *fakeEntra, e *Exchanger, incoming, dbx Token) {
	t.Helper()
	f = newFakeEntra(t)
	e = newTestExchanger(t, f, nil)
	incoming = userToken(t, f, 1)
	dbx, _, err := e.TokenFor(context.Background(), alice, incoming)
	if err != nil {
		t.Fatal(err)
	}
	return f, e, incoming, dbx
}

// Refresh after Databricks rejected a user's exchanged token really asks Entra again (a new
// On-Behalf-Of exchange of the same incoming token), hands out the new token, and caches it in
// place of the rejected one.
func TestRefreshExchangesTheUsersTokenAgain(t *testing.T) {
	f, e, incoming, rejected := exchangedOnce(t)
	ctx := context.Background()

	fresh, exp, err := e.Refresh(ctx, alice, incoming, rejected)
	if err != nil {
		t.Fatal(err)
	}

	if fresh == rejected || !f.issuedFor(fresh, incoming) || time.Until(exp) < 50*time.Minute {
		t.Errorf("Refresh returned the rejected token or one not issued for the incoming token (exp %v)", exp)
	}
	if n := f.count("token"); n != 2 {
		t.Errorf("Entra token requests = %d, want 2 (the exchange and the refresh)", n)
	}
	forms := f.forms()
	if last := forms[len(forms)-1]; last.Get("requested_token_use") != "on_behalf_of" || last.Get("assertion") != incoming.Reveal() {
		t.Errorf("the refresh was not an On-Behalf-Of exchange of the incoming token: %v", redactForm(last))
	}
	again, _, err := e.TokenFor(ctx, alice, incoming)
	if err != nil || again != fresh {
		t.Errorf("TokenFor after Refresh returned another token than the fresh one (err %v)", err)
	}
	if n := f.count("token"); n != 2 {
		t.Errorf("TokenFor after Refresh called Entra (%d requests): the fresh token was not cached", n)
	}
	// Another request that saw the same token rejected, arriving after the refresh, gets the
	// fresh token without a further exchange.
	late, _, err := e.Refresh(ctx, alice, incoming, rejected)
	if err != nil || late != fresh || f.count("token") != 2 {
		t.Errorf("a late Refresh of the already replaced token: another token or another Entra call (%d requests, err %v)", f.count("token"), err)
	}
	if st := e.Stats(); st.Refreshes != 2 || st.Entries != 1 {
		t.Errorf("stats = %+v, want 2 refreshes and 1 entry", st)
	}
}

// Several requests that all saw the same token rejected share one new exchange: whoever comes
// after the cache holds another token gets that one, without calling Entra again.
func TestConcurrentRefreshesOfOneRejectedTokenExchangeOnce(t *testing.T) {
	f, e, incoming, rejected := exchangedOnce(t)
	ctx := context.Background()

	const callers = 8
	got := make([]Token, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			tok, _, err := e.Refresh(ctx, alice, incoming, rejected)
			if err != nil {
				t.Error(err)
			}
			got[i] = tok
		})
	}
	wg.Wait()

	for _, tok := range got[1:] {
		if tok != got[0] || tok == rejected {
			t.Fatal("concurrent refreshes handed out different tokens, or the rejected one")
		}
	}
	if n := f.count("token"); n != 2 {
		t.Errorf("Entra token requests = %d, want 2 (one exchange, one shared refresh)", n)
	}
}

// azidentity caches the handler's client-credentials token inside the credential: asking the same
// credential again returns the rejected token without calling Entra. Refresh therefore obtains the
// token with a new credential, which really calls Entra, and later requests get the new token.
func TestRefreshGetsANewAppTokenDespiteAzidentitysCache(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, nil)
	ctx := context.Background()
	app := Principal{Kind: App, ObjectID: "99999999-8888-4777-8666-555555555555", AppID: testAppCaller, TenantID: testTenant}

	rejected, _, err := e.TokenFor(ctx, app, "")
	if err != nil {
		t.Fatal(err)
	}
	// The premise: the credential's own cache would hand back the rejected token.
	if cached, _, err := e.appToken(ctx, app); err != nil || cached != rejected || f.count("token") != 1 {
		t.Fatalf("premise: azidentity's cache returned another token or called Entra (%d requests, err %v)", f.count("token"), err)
	}

	fresh, _, err := e.Refresh(ctx, app, "", rejected)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == rejected {
		t.Fatal("Refresh returned the rejected app token")
	}
	if n := f.count("token"); n != 2 {
		t.Errorf("Entra token requests = %d, want 2", n)
	}
	if last := f.forms()[1]; last.Get("grant_type") != "client_credentials" {
		t.Errorf("the refresh used grant_type %q", last.Get("grant_type"))
	}
	later, _, err := e.TokenFor(ctx, app, "")
	if err != nil || later != fresh || f.count("token") != 2 {
		t.Errorf("TokenFor after Refresh: another token or another Entra call (%d requests, err %v)", f.count("token"), err)
	}
	// A refresh for a token that was already replaced does not call Entra.
	if again, _, err := e.Refresh(ctx, app, "", rejected); err != nil || again != fresh || f.count("token") != 2 {
		t.Errorf("a late Refresh of the already replaced token: %d requests, err %v", f.count("token"), err)
	}
}

// Refresh counts against the caller's bound: a caller cannot get around it by having its
// tokens rejected.
func TestRefreshIsBoundedPerCaller(t *testing.T) {
	f := newFakeEntra(t)
	clock := &fixedClock{t: time.Now()}
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.Now = clock.now; o.CallerBurst = 2 })
	ctx := context.Background()
	incoming := userToken(t, f, 1)

	tok, _, err := e.TokenFor(ctx, alice, incoming)
	if err != nil {
		t.Fatal(err)
	}
	if tok, _, err = e.Refresh(ctx, alice, incoming, tok); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.Refresh(ctx, alice, incoming, tok)
	var xe *ExchangeError
	if !errors.As(err, &xe) || xe.Kind != Throttled || xe.RetryAfter < time.Second {
		t.Fatalf("third exchange with a burst of 2: %v, want Throttled with RetryAfter", err)
	}
	if n := f.count("token"); n != 2 {
		t.Errorf("Entra token requests = %d, want 2", n)
	}
}

func TestRefreshRejectsUnusablePrincipals(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, nil)
	var xe *ExchangeError
	if _, _, err := e.Refresh(context.Background(), alice, "", "x"); !errors.As(err, &xe) || xe.Kind != InvalidAssertion {
		t.Errorf("no incoming token: %v", err)
	}
	if _, _, err := e.Refresh(context.Background(), Principal{}, "x", "y"); err == nil {
		t.Error("principal of unknown kind: no error")
	}
	if n := f.total(); n != 0 {
		t.Errorf("%d requests to Entra", n)
	}
}
