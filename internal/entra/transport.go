package entra

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// metadataCacheTTL is how long an Entra metadata document fetched through entraTransport is reused.
const metadataCacheTTL = time.Hour

// entraTransport is the azcore Transporter behind every credential the Exchanger builds.
//
// Why it exists: an azidentity OnBehalfOfCredential keeps its MSAL client — and with it the
// authority's metadata — only for its own lifetime, and the user assertion is fixed per
// credential, so the Exchanger builds a new credential for every cache miss. Each new MSAL client
// would GET {authority}/{tenant}/v2.0/.well-known/openid-configuration (and, for Microsoft's own
// hosts, /common/discovery/instance) before its token POST. These documents are identical for
// every credential, so this transport keeps successful GETs of them for metadataCacheTTL: a warm
// miss is exactly one POST to the token endpoint. Nothing else is cached; token requests always go
// to the network.
//
// It also records transport failures in the request context's callTrace, because azidentity
// turns them into an error message string (the error chain is lost) and the Exchanger needs to
// classify them as Unavailable.
type entraTransport struct {
	next policy.Transporter
	now  func() time.Time

	mu   sync.Mutex
	docs map[string]cachedDoc
}

type cachedDoc struct {
	header  http.Header
	body    []byte
	fetched time.Time
}

func newEntraTransport(next policy.Transporter, now func() time.Time) *entraTransport {
	return &entraTransport{next: next, now: now, docs: map[string]cachedDoc{}}
}

// isMetadataRequest: tenant discovery (v1/v2 openid-configuration) and MSAL's instance discovery.
func isMetadataRequest(req *http.Request) bool {
	if req.Method != http.MethodGet || req.URL == nil {
		return false
	}
	p := req.URL.Path
	return strings.HasSuffix(p, "/.well-known/openid-configuration") || strings.HasSuffix(p, "/discovery/instance")
}

// Do implements policy.Transporter.
func (t *entraTransport) Do(req *http.Request) (*http.Response, error) {
	if !isMetadataRequest(req) {
		return t.roundTrip(req)
	}
	key := req.URL.String()
	t.mu.Lock()
	doc, ok := t.docs[key]
	if ok && t.now().Sub(doc.fetched) >= metadataCacheTTL {
		delete(t.docs, key)
		ok = false
	}
	t.mu.Unlock()
	if ok {
		return doc.response(req), nil
	}
	resp, err := t.roundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	_ = resp.Body.Close()
	if err != nil {
		traceFrom(req.Context()).networkError(err)
		return nil, err
	}
	if len(body) <= maxMetadataBytes {
		t.mu.Lock()
		t.docs[key] = cachedDoc{header: resp.Header.Clone(), body: body, fetched: t.now()}
		t.mu.Unlock()
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (t *entraTransport) roundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.Do(req)
	if err != nil {
		traceFrom(req.Context()).networkError(err)
	}
	return resp, err
}

func (d cachedDoc) response(req *http.Request) *http.Response {
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        d.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(d.body)),
		ContentLength: int64(len(d.body)),
		Request:       req,
	}
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
