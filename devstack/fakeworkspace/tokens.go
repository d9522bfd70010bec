package fakeworkspace

import (
	"crypto/sha256"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"
)

// Forms in which Azure Databricks has refused a bearer token it considers expired, as captured in
// public bug reports. Which one a workspace sends has changed over time; clients must handle all.
const (
	// RejectTokenExpired: 401 {"error_code":401,"message":"Token is expired"} — what the fake also
	// answers for a token that really expired ("changed to a 401 with 'Token is expired' as the
	// response", https://github.com/databrickslabs/splunk-integration/issues/55).
	RejectTokenExpired = "token_expired"
	// RejectJWTExpired: 403 {"error_code":403,"message":"JWT has expired"} with the header
	// X-Databricks-Reason-Phrase: JWT has expired: a numeric error_code, Content-Type
	// application/json; charset=utf-8 (the response quoted in
	// https://github.com/databricks/databricks-sdk-go/issues/1061).
	RejectJWTExpired = "jwt_expired"
	// RejectExpiring: the 403 Jetty page "Token is expiring within 30 seconds. (token expired)"
	// (https://github.com/databricks/databricks-vscode/issues/583). Azure Databricks "rejects tokens that expire in 30 seconds or
	// less" (databricks-sdk-go config/oauth_visitors.go), so the fake answers this for every token
	// whose Principal.ExpiresAt is that close, besides when a TokenRejection asks for it.
	RejectExpiring = "expiring"
)

// expiringWindow is how close to its expiry Azure Databricks stops accepting a token (see
// RejectExpiring).
const expiringWindow = 30 * time.Second

// TokenRejection makes the workspace refuse bearer tokens that are valid — signed, not expired —
// as expired: what a workspace does when its clock or a revocation disagrees with Entra ID.
type TokenRejection struct {
	// Form is RejectTokenExpired, RejectJWTExpired or RejectExpiring.
	Form string `json:"form"`
	// Count is how many requests it applies to; 0 = until cleared.
	Count int `json:"count"`
	// Path limits it to one API path, e.g. "/api/2.2/jobs/runs/get"; "" = every API path.
	Path string `json:"path"`
	// SeenOnly limits it to the tokens the workspace had already been sent when the rejection was
	// added: those are "revoked", tokens obtained afterwards are accepted.
	SeenOnly bool `json:"seen_only"`
}

type activeRejection struct {
	TokenRejection
	remaining int
	seen      map[[32]byte]struct{} // SeenOnly: the tokens it applies to
}

// RejectTokens adds a token rejection. Rejections apply in the order they were added, after the
// token was verified and before workspace membership is checked, like a real workspace's.
func (s *Server) RejectTokens(r TokenRejection) error {
	switch r.Form {
	case RejectTokenExpired, RejectJWTExpired, RejectExpiring:
	default:
		return fmt.Errorf("fakeworkspace: token rejection form must be %s, %s or %s, got %q", RejectTokenExpired, RejectJWTExpired, RejectExpiring, r.Form)
	}
	if r.Count < 0 {
		return fmt.Errorf("fakeworkspace: token rejection count must be >= 0, got %d", r.Count)
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("fakeworkspace: token rejection path must start with / (or be empty for all), got %q", r.Path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &activeRejection{TokenRejection: r, remaining: r.Count}
	if r.SeenOnly {
		a.seen = make(map[[32]byte]struct{}, len(s.tokens))
		for h := range s.tokens {
			a.seen[h] = struct{}{}
		}
	}
	s.rejections = append(s.rejections, a)
	return nil
}

// ClearTokenRejections removes all token rejections.
func (s *Server) ClearTokenRejections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejections = nil
}

// takeRejection returns the form in which the request's token is to be refused, or "" to accept
// it: a token close to its expiry (expiresAt, zero when unknown), else the first matching
// TokenRejection, one of whose applications it uses.
func (s *Server) takeRejection(path string, sum [32]byte, expiresAt time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !expiresAt.IsZero() && expiresAt.Sub(s.now()) <= expiringWindow {
		return RejectExpiring
	}
	for i, r := range s.rejections {
		if r.Path != "" && r.Path != path {
			continue
		}
		if _, revoked := r.seen[sum]; r.SeenOnly && !revoked {
			continue
		}
		if r.Count > 0 {
			r.remaining--
			if r.remaining <= 0 {
				s.rejections = append(s.rejections[:i:i], s.rejections[i+1:]...)
			}
		}
		return r.Form
	}
	return ""
}

// writeTokenRejection answers in the given form (see the Reject* constants for the sources).
func (s *Server) writeTokenRejection(w http.ResponseWriter, form, path string) {
	s.mu.Lock()
	s.stats.TokensRejected++
	if form == RejectTokenExpired {
		s.stats.Unauthorized++
	} else {
		s.stats.Forbidden++
	}
	s.mu.Unlock()
	switch form {
	case RejectJWTExpired:
		w.Header().Set("X-Databricks-Reason-Phrase", "JWT has expired")
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("{\n  \"error_code\": 403,\n  \"message\": \"JWT has expired\"\n}"))
	case RejectExpiring:
		writeJettyPage(w, http.StatusForbidden, "Token is expiring within 30 seconds. (token expired)", path)
	default:
		writeUnauthenticated(w, "Token is expired")
	}
}

// writeJettyPage is the error page of Azure Databricks' Jetty front end: the reason in the title
// and in <pre> (the SDK reads the <pre> text as the message and the status text as the code).
// Captured for "User not authorized" (https://github.com/gbrueckl/Databricks.API.PowerShell/issues/20)
// and "Invalid access token." (https://github.com/databricks/terraform-provider-databricks/issues/66).
func writeJettyPage(w http.ResponseWriter, status int, reason, path string) {
	w.Header().Set("Content-Type", "text/html;charset=iso-8859-1")
	w.Header().Set("Cache-Control", "must-revalidate,no-cache,no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n"+
		"<title>Error %d %s</title>\n</head>\n<body><h2>HTTP ERROR %d</h2>\n"+
		"<p>Problem accessing %s. Reason:\n<pre>    %s</pre></p>\n</body>\n</html>\n",
		status, html.EscapeString(reason), status, html.EscapeString(path), html.EscapeString(reason))
}

// tokenSum is how the workspace remembers a token: its hash, never the token.
func tokenSum(tok string) [32]byte { return sha256.Sum256([]byte(tok)) }
