package redact

import (
	"strings"
	"testing"
)

// token is shaped like an Entra ID access token: header, payload and a 342-character signature.
var token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6ImZiLTEifQ." +
	"eyJhdWQiOiJhcGk6Ly9mbG93YnJpY2tzIiwib2lkIjoiYTExY2UwMDAiLCJ0aWQiOiI3ZTFhMmIzYyJ9." +
	strings.Repeat("c2lnbmF0dXJl", 28) + "c2lnbg"

// pieces are the ways a token reaches flowbricks cut or split.
var pieces = map[string]string{
	"whole token":          token,
	"header and payload":   token[:strings.LastIndex(token, ".")],
	"header only":          token[:strings.Index(token, ".")],
	"payload only":         strings.Split(token, ".")[1],
	"signature only":       strings.Split(token, ".")[2],
	"first 64 characters":  token[:64],
	"first 20 characters":  token[:20],
	"a token with a space": "Bearer " + token,
}

func TestValue(t *testing.T) {
	tests := []struct {
		name, in string
		kept     bool
	}{
		{"a Logic Apps run id", "08586611142736787787412824395CU21", true},
		{"an action name", "Run_daily_sales_refresh", true},
		{"a GUID", "7c1e9f0a-0000-4000-8000-00000000b001", true},
		{"a run id", "9223372036854775807", true},
		{"an empty value", "", true},
		{"64 characters", strings.Repeat("k", 64), true},
		{"65 characters", strings.Repeat("k", 65), false},
		{"a caller's key", "nightly-2026-11-28", true},
	}
	for name, p := range pieces {
		tests = append(tests, struct {
			name, in string
			kept     bool
		}{"token: " + name, p, false})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Value(tt.in)
			if (got == tt.in) != tt.kept {
				t.Fatalf("Value(%.30q…) = %q, kept=%v, want kept=%v", tt.in, got, got == tt.in, tt.kept)
			}
			if !tt.kept && got != Label(tt.in) {
				t.Fatalf("Value = %q, want the label %q", got, Label(tt.in))
			}
		})
	}
}

// A 20-character window of the "first 20 characters" piece is itself; every other piece is
// longer than 20 and must leave no 20-character window of the token behind.
func TestNoPieceOfATokenSurvives(t *testing.T) {
	for name, p := range pieces {
		for _, out := range []string{Value(p), Path("/api/jobs/runs/" + p), Text("No run " + p + " here."), Text(p)} {
			for i := 0; i+20 <= len(token); i++ {
				if strings.Contains(out, token[i:i+20]) {
					t.Fatalf("%s: %q keeps the token's characters %d-%d", name, out, i, i+20)
				}
			}
		}
	}
}

func TestPath(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a route", "/api/jobs/runs/12345/output", "/api/jobs/runs/12345/output"},
		{"a token as run id", "/api/jobs/runs/" + token + "/cancel", "/api/jobs/runs/" + Label(token) + "/cancel"},
		{"a token as the path", "/api/" + token, "/api/" + Label(token)},
		{"a long path of short segments", "/api/" + strings.Repeat("segment/", 20), "/api/" + strings.Repeat("segment/", 20)},
		{"an overlong segment", "/api/" + strings.Repeat("x", 65), "/api/" + Label(strings.Repeat("x", 65))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Path(tt.in); got != tt.want {
				t.Fatalf("Path = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain text", `Field "job_id" is given more than once.`, `Field "job_id" is given more than once.`},
		{"an Entra error", "AADSTS50076: Due to a configuration change. Trace ID: 0e5a2b3c-0000-4000-8000-000000000001",
			"AADSTS50076: Due to a configuration change. Trace ID: 0e5a2b3c-0000-4000-8000-000000000001"},
		{"a workspace URL", "https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456#job/101/run/7",
			"https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456#job/101/run/7"},
		{"a token in a sentence", "Invalid access token: " + token + ".", "Invalid access token: " + Label(token) + "."},
		{"an opaque secret", "secret " + strings.Repeat("Ab0~", 20) + " end", "secret " + Label(strings.Repeat("Ab0~", 20)) + " end"},
		{"labels are stable", "see " + Label(token), "see " + Label(token)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in); got != tt.want {
				t.Fatalf("Text = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLabel(t *testing.T) {
	a, b := Label("key-a"), Label("key-b")
	if a == b || a != Label("key-a") || !strings.HasPrefix(a, "[sha256:") || len(a) != len("[sha256:]")+12 {
		t.Fatalf("labels %q %q", a, b)
	}
}

func TestSecrets(t *testing.T) {
	const clientSecret = "s3cr3t~Value.With-Enough_Entropy"
	tests := []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{"no secret in the text", "AADSTS50013: Assertion failed signature validation.", []string{clientSecret, token},
			"AADSTS50013: Assertion failed signature validation."},
		{"a known secret echoed", "secret " + clientSecret + " rejected", []string{clientSecret},
			"secret [REDACTED] rejected"},
		{"the token sent, echoed", "Invalid access token: " + token, []string{token},
			"Invalid access token: [REDACTED]"},
		{"a secret that contains another is replaced whole", "pw " + clientSecret, []string{"Value", clientSecret},
			"pw [REDACTED]"},
		{"an unknown JWT still becomes a label", "other " + token, []string{clientSecret},
			"other " + Label(token)},
		{"empty and very short values are not secrets", "a b abc", []string{"", "a", "abc"}, "a b abc"},
		{"no secrets given: Text", "see " + token, nil, "see " + Label(token)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Secrets(tt.in, tt.secrets...); got != tt.want {
				t.Fatalf("Secrets = %q, want %q", got, tt.want)
			}
		})
	}
}
