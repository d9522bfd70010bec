package entra

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/sync/singleflight"
)

// metadataCacheTTL is how long a fetched Entra metadata document is reused.
const metadataCacheTTL = time.Hour

// Metadata keeps Entra ID's metadata documents once fetched: the tenant's OpenID discovery
// documents (v1 and v2) and, for Microsoft's own hosts, MSAL's instance discovery. They are the
// same for every token and every credential, so one fetch per document and hour is enough.
//
// Concurrent first requests for one document share a single fetch (golang.org/x/sync's
// singleflight): a cold burst of exchanges, each with its own MSAL client, would otherwise fetch
// the document once per exchange that starts before the first answer arrives (docs/performance.md,
// "Entra ID calls and the token cache"). The shared fetch runs on its own context (the starting
// request's values, not its cancellation, with metadataTimeout), so a caller giving up does not
// fail the others; each caller waits on its own context.
//
// Pass one Metadata to both [ValidatorOptions] and [ExchangerOptions] to share the v2 discovery
// document between validation and exchange; without one, each keeps its own. Safe for concurrent
// use; nothing is fetched until a document is first needed.
type Metadata struct {
	now   func() time.Time
	group singleflight.Group

	mu   sync.Mutex
	docs map[string]cachedDoc
}

// NewMetadata returns an empty metadata cache. It makes no network call.
func NewMetadata() *Metadata { return newMetadata(time.Now) }

func newMetadata(now func() time.Time) *Metadata {
	return &Metadata{now: now, docs: map[string]cachedDoc{}}
}

type cachedDoc struct {
	header  http.Header
	body    []byte
	fetched time.Time
}

// fetched is one answer of the shared fetch: what each caller gets its own response from.
type fetched struct {
	status int
	header http.Header
	body   []byte
}

// isMetadataRequest: tenant discovery (v1/v2 openid-configuration) and MSAL's instance discovery.
func isMetadataRequest(req *http.Request) bool {
	if req.Method != http.MethodGet || req.URL == nil {
		return false
	}
	p := req.URL.Path
	return strings.HasSuffix(p, "/.well-known/openid-configuration") || strings.HasSuffix(p, "/discovery/instance")
}

// metadataKey names a document independent of how the request spelt its URL: MSAL asks for
// ".../openid-configuration?" (an empty query), the Validator without the "?".
func metadataKey(u *url.URL) string {
	k := u.Scheme + "://" + strings.ToLower(u.Host) + u.EscapedPath()
	if u.RawQuery != "" {
		k += "?" + u.RawQuery
	}
	return k
}

// do answers the metadata GET req from the cache, or through next: one fetch per document at a
// time whoever asks. Only a 200 answer within maxMetadataBytes is kept.
func (m *Metadata) do(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	key := metadataKey(req.URL)
	if doc, ok := m.lookup(key); ok {
		return metadataResponse(req, http.StatusOK, doc.header, doc.body), nil
	}
	ch := m.group.DoChan(key, func() (any, error) {
		if doc, ok := m.lookup(key); ok { // a fetch that ended just before this one started
			return fetched{status: http.StatusOK, header: doc.header, body: doc.body}, nil
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), metadataTimeout)
		defer cancel()
		resp, err := next(req.Clone(ctx))
		if err != nil {
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
		if err != nil {
			return nil, err
		}
		f := fetched{status: resp.StatusCode, header: resp.Header.Clone(), body: body}
		if f.status == http.StatusOK && len(body) <= maxMetadataBytes {
			m.mu.Lock()
			m.docs[key] = cachedDoc{header: f.header, body: body, fetched: m.now()}
			m.mu.Unlock()
		}
		return f, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		f := r.Val.(fetched)
		return metadataResponse(req, f.status, f.header, f.body), nil
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
}

// lookup returns the document under key unless it is older than metadataCacheTTL.
func (m *Metadata) lookup(key string) (cachedDoc, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	doc, ok := m.docs[key]
	if ok && m.now().Sub(doc.fetched) >= metadataCacheTTL {
		delete(m.docs, key)
		return cachedDoc{}, false
	}
	return doc, ok
}

// metadataResponse is one caller's own copy of a metadata answer.
func metadataResponse(req *http.Request, status int, header http.Header, body []byte) *http.Response {
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// entraTransport is the azcore Transporter behind every credential the Exchanger builds.
//
// Why it exists: an azidentity OnBehalfOfCredential keeps its MSAL client — and with it the
// authority's metadata — only for its own lifetime, and the user assertion is fixed per
// credential, so the Exchanger builds a new credential for every cache miss. Each new MSAL client
// would GET {authority}/{tenant}/v2.0/.well-known/openid-configuration (and, for Microsoft's own
// hosts, /common/discovery/instance) before its token POST. This transport answers those GETs
// from [Metadata]: a warm miss is exactly one POST to the token endpoint, and a cold burst fetches
// each document once. Nothing else is cached; token requests always go to the network.
//
// One MSAL confidential client per credential, shared by every exchange, would resolve the
// authority once too, but only by calling MSAL directly instead of through azidentity, and its
// token cache would then keep every user's On-Behalf-Of answer (refresh tokens included) with no
// bound beside the Exchanger's own bounded cache.
//
// It also records transport failures in the request context's callTrace, because azidentity
// turns them into an error message string (the error chain is lost) and the Exchanger needs to
// classify them as Unavailable.
type entraTransport struct {
	next     policy.Transporter
	metadata *Metadata
}

func newEntraTransport(next policy.Transporter, metadata *Metadata) *entraTransport {
	return &entraTransport{next: next, metadata: metadata}
}

// Do implements policy.Transporter.
func (t *entraTransport) Do(req *http.Request) (*http.Response, error) {
	if !isMetadataRequest(req) {
		return t.roundTrip(req)
	}
	resp, err := t.metadata.do(req, t.next.Do)
	if err != nil {
		traceFrom(req.Context()).networkError(err)
	}
	return resp, err
}

func (t *entraTransport) roundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.Do(req)
	if err != nil {
		traceFrom(req.Context()).networkError(err)
	}
	return resp, err
}

// callTrace collects, for one exchange, what the error classification needs and azidentity does
// not keep: whether a transport error happened, and every secret seen (for redaction).
type callTrace struct {
	mu         sync.Mutex
	netErr     string
	secrets    []string
	assertFail error // the managed identity assertion callback failed
}

type traceKey struct{}

func withTrace(ctx context.Context, tr *callTrace) context.Context {
	return context.WithValue(ctx, traceKey{}, tr)
}

// traceFrom returns the context's trace, or nil (all methods accept a nil receiver).
func traceFrom(ctx context.Context) *callTrace {
	tr, _ := ctx.Value(traceKey{}).(*callTrace)
	return tr
}

func (tr *callTrace) networkError(err error) {
	if tr == nil {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.netErr == "" {
		tr.netErr = err.Error()
	}
}

func (tr *callTrace) addSecret(s string) {
	if tr == nil || s == "" {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.secrets = append(tr.secrets, s)
}

func (tr *callTrace) assertionFailed(err error) {
	if tr == nil {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.assertFail == nil {
		tr.assertFail = err
	}
}

func (tr *callTrace) snapshot() (netErr string, secrets []string, assertFail error) {
	if tr == nil {
		return "", nil, nil
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.netErr, append([]string(nil), tr.secrets...), tr.assertFail
}
