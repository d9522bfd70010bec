package hoststandin

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// HostVersion is the version the stand-in reports to the handler in X-Azure-Functions-HostVersion and in
// the User-Agent product token (the real host sends its own 4.x build number).
const HostVersion = "4.0.0.0"

// Header names the host adds on every call to the handler (AddHeaders; docs/architecture.md, Azure Functions custom handler (forwarding mode)).
const (
	headerInvocationID = "X-Azure-Functions-InvocationId"
	headerHostVersion  = "X-Azure-Functions-HostVersion"
	userAgentProduct   = "Azure-Functions-Host/" + HostVersion
)

// defaultBodyLimit is the host's request size limit, adjustable with FUNCTIONS_REQUEST_BODY_SIZE_LIMIT
// (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
const defaultBodyLimit = 104857600

// frontEnd is the stand-in's HTTP side: the host page, route matching and forwarding-mode calls to the
// handler. The forwarding itself is net/http/httputil.ReverseProxy (no redirect following, streaming,
// hop-by-hop handling); the Rewrite hook applies the host's request rules (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
type frontEnd struct {
	app       *app
	target    string // 127.0.0.1:<port>
	bodyLimit int64
	gate      handlerGate
	log       *log.Logger
	proxy     *httputil.ReverseProxy
}

// handlerGate tells whether the handler can be called (it may be restarting, or the host may have given up).
type handlerGate interface {
	stopped() bool                          // the host gave up restarting the handler
	awaitHandler(ctx context.Context) error // waits while the handler restarts
}

// invocation is one function call; it travels in the request context from ServeHTTP to the proxy hooks,
// which run on the same goroutine.
type invocation struct {
	fn  *function
	id  string
	err error
}

type invocationKey struct{}

func newFrontEnd(a *app, target string, bodyLimit int64, transport http.RoundTripper, gate handlerGate, logger *log.Logger) *frontEnd {
	f := &frontEnd{app: a, target: target, bodyLimit: bodyLimit, gate: gate, log: logger}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:      f.rewrite,
		Transport:    transport,
		ErrorHandler: f.proxyError,
		ErrorLog:     logger,
	}
	return f
}

func (f *frontEnd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.gate.stopped() {
		// The host shut down after the handler's last crash (HttpFunctionInvocationDispatcher.
		// RestartWorkerChannel → StopApplication); while it is not running HostAvailabilityCheckMiddleware
		// answers every request 503 "Function host is not running." (func start exits instead).
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "Function host is not running.")
		return
	}
	// This is the Functions host's own default page (HomepageMiddleware), served before function routes;
	// it is not the handler's GET / (the host probes that one directly on the handler's port).
	if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!DOCTYPE html><html><body><h1>Your Functions 4.0 app is up and running</h1>"+
			"<p>(flowbricks host stand-in)</p></body></html>\n")
		return
	}
	fn := f.route(r)
	if fn == nil {
		// No route, or a route whose methods do not include this one: the host answers 404 with an empty
		// body in both cases, not 405 (azure-functions-host#10098, #11625).
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.ContentLength > f.bodyLimit {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	inv := &invocation{fn: fn, id: uuid.NewString()}
	ctx := context.WithValue(r.Context(), invocationKey{}, inv)
	if t := f.app.invokeTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	// Same wording as func start, so logs read alike; no query string or headers (they may carry secrets).
	f.log.Printf("Executing 'Functions.%s' (Reason='This function was programmatically called via the host APIs.', Id=%s)", fn.name, inv.id)
	start := time.Now()
	switch err := f.gate.awaitHandler(ctx); {
	case errors.Is(err, errGaveUp):
		inv.err = err
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "Function host is not running.")
	case err != nil:
		f.proxyError(w, r.WithContext(ctx), err)
	case slices.Contains(r.TransferEncoding, "chunked"):
		// The host copies every request header onto the HttpRequestMessage, Transfer-Encoding included,
		// but the body only with a Content-Length (HttpRequestExtensions.ToHttpRequestMessage). .NET then
		// refuses to send it: "'Transfer-Encoding: chunked' header can not be used when content object is
		// not specified" (dotnet/runtime SocketsHttpHandler.ValidateAndNormalizeRequest), an
		// HttpRequestException that fails the invocation before anything reaches the handler.
		f.proxyError(w, r.WithContext(ctx), errChunkedWithoutContent)
	default:
		f.proxy.ServeHTTP(w, r.WithContext(ctx))
	}
	outcome := "Succeeded"
	if inv.err != nil {
		outcome = "Failed"
	}
	f.log.Printf("Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)", fn.name, outcome, inv.id, time.Since(start).Milliseconds())
}

// route returns the first function (in precedence order) whose template matches the path and whose
// methods include the request's method.
func (f *frontEnd) route(r *http.Request) *function {
	path := r.URL.EscapedPath()
	for _, fn := range f.app.functions {
		if fn.template.match(path) && fn.allows(r.Method) {
			return fn
		}
	}
	return nil
}

// rewrite builds the request to the handler the way the host does in forwarding mode
// (HttpRequestExtensions.ToHttpRequestMessage + DefaultHttpWorkerService.AddHeaders; docs/architecture.md, Azure Functions custom handler (forwarding mode)).
func (f *frontEnd) rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	inv := in.Context().Value(invocationKey{}).(*invocation)

	// Path: the original path, /api prefix included. The legacy httpWorker section posts to
	// /<FunctionName> instead (DefaultHttpWorkerService.GetPathValue).
	out.URL = &url.URL{Scheme: "http", Host: f.target}
	if f.app.legacy {
		out.URL.Path = "/" + inv.fn.name
	} else {
		out.URL.Path, out.URL.RawPath = in.URL.Path, in.URL.RawPath
	}
	out.URL.RawQuery = joinQuery(in.URL.RawQuery)
	// Host: the caller's, i.e. the app's public host name. ToHttpRequestMessage copies the Host header with
	// the others (TryAddWithoutValidation), and .NET sends an explicit Host header instead of the request
	// URI's authority (dotnet/runtime SocketsHttpHandler HttpConnection: request.Headers.Host wins).
	out.Host = in.Host

	out.Header = forwardHeaders(in.Header)
	out.Header.Set(headerInvocationID, inv.id)
	out.Header.Set(headerHostVersion, HostVersion)
	// UserAgent.ParseAdd appends the host's product to the caller's User-Agent.
	ua := userAgentProduct
	if v := in.Header.Values("User-Agent"); len(v) > 0 {
		ua = strings.Join(v, " ") + " " + ua
	}
	out.Header.Set("User-Agent", ua)

	// Body: copied only if Content-Length > 0, together with Content-Length and Content-Type. A chunked
	// request never gets here (ServeHTTP fails it like the host).
	out.TransferEncoding, out.Trailer, out.Close = nil, nil, false
	if in.ContentLength > 0 {
		out.ContentLength = in.ContentLength
		if ct := in.Header.Values("Content-Type"); len(ct) > 0 {
			out.Header.Set("Content-Type", strings.Join(ct, ","))
		}
	} else {
		out.Body, out.ContentLength = nil, 0
	}
}

// proxyError answers like the host when the call to the handler fails (handler gone, connection refused,
// timeout): the invocation fails and the host returns 500 with an empty body (the HttpRequestException
// becomes the function's exception; DefaultHttpWorkerService.ProcessHttpInAndOutInvocationRequest).
func (f *frontEnd) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if inv, ok := r.Context().Value(invocationKey{}).(*invocation); ok {
		inv.err = err
		f.log.Printf("Function 'Functions.%s' failed (Id=%s): call to the handler: %v", inv.fn.name, inv.id, err)
	}
	w.WriteHeader(http.StatusInternalServerError)
}

var errChunkedWithoutContent = errors.New("'Transfer-Encoding: chunked' header can not be used when content object is not specified")

// requestHeadersNotCopied are left out when copying the caller's headers.
//   - Content headers: .NET keeps them on HttpContent, so the host's TryAddWithoutValidation on the
//     request headers skips them; only Content-Length and Content-Type are re-added, with the body.
//   - Hop-by-hop headers: they describe the caller's connection; the stand-in's own connection to the
//     handler is managed by net/http (Transfer-Encoding in particular: the body is not forwarded, see rewrite).
var requestHeadersNotCopied = map[string]bool{
	"Allow": true, "Content-Disposition": true, "Content-Encoding": true, "Content-Language": true,
	"Content-Length": true, "Content-Location": true, "Content-Md5": true, "Content-Range": true,
	"Content-Type": true, "Expires": true, "Last-Modified": true,
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Expect": true,
	"User-Agent": true, // re-added with the host's product appended
}

// forwardHeaders copies every other header, Authorization included. Repeated headers go out on one line,
// joined the way .NET serialises a multi-valued header (", "; "; " for Cookie).
func forwardHeaders(in http.Header) http.Header {
	out := make(http.Header, len(in)+3)
	for k, vs := range in {
		if requestHeadersNotCopied[k] || len(vs) == 0 {
			continue
		}
		sep := ", "
		if k == "Cookie" {
			sep = "; "
		}
		out[k] = []string{strings.Join(vs, sep)}
	}
	return out
}

// joinQuery rebuilds the query string the way the host does: keys grouped case-insensitively in order of
// first appearance (ASP.NET's QueryCollection), repeated values joined with commas (StringValues.ToString;
// docs/architecture.md, Azure Functions custom handler (forwarding mode)), then re-encoded (QueryHelpers.AddQueryString).
func joinQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type entry struct {
		key  string
		vals []string
	}
	var order []*entry
	byKey := map[string]*entry{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = unescapeQuery(k), unescapeQuery(v)
		e := byKey[strings.ToLower(k)]
		if e == nil {
			e = &entry{key: k}
			byKey[strings.ToLower(k)] = e
			order = append(order, e)
		}
		e.vals = append(e.vals, v)
	}
	var b strings.Builder
	for i, e := range order {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escapeDataString(e.key))
		b.WriteByte('=')
		b.WriteString(escapeDataString(strings.Join(e.vals, ",")))
	}
	return b.String()
}

// unescapeQuery decodes a query component; an invalid %-sequence is kept as written, as ASP.NET does.
func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}

// escapeDataString percent-encodes everything except RFC 3986 unreserved characters (space becomes %20).
func escapeDataString(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
