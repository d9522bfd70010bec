package retryafter

import (
	"net/http"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	const lo, hi = time.Second, 10 * time.Minute
	tests := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{"absent", "", 0, false},
		{"blank", "   ", 0, false},
		{"seconds", "7", 7 * time.Second, true},
		{"seconds with spaces", " 12 ", 12 * time.Second, true},
		{"zero means now: the lower bound", "0", lo, true},
		{"negative", "-1", 0, false},
		{"huge", "86400", hi, true},
		{"larger than a Duration holds", "999999999999999999", hi, true},
		{"more digits than an int64", "99999999999999999999999", hi, true},
		{"a hugely negative number", "-99999999999999999999999", 0, false},
		{"an HTTP date 30 s ahead", now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{"an HTTP date in the past: the lower bound", "Wed, 21 Oct 2015 07:28:00 GMT", lo, true},
		{"an HTTP date a day ahead", now.Add(24 * time.Hour).Format(http.TimeFormat), hi, true},
		{"an RFC 850 date (obsolete but allowed)", now.Add(time.Minute).Format("Monday, 02-Jan-06 15:04:05 GMT"), time.Minute, true},
		{"a fraction", "1.5", 0, false},
		{"garbage", "soon", 0, false},
		{"a unit", "30s", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Parse(tt.in, now, lo, hi)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Parse(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
