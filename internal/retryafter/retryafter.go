// Package retryafter reads the Retry-After header of an upstream answer (Entra ID's or
// Databricks'), the one parser both boundaries use.
//
// It is hand-written because the well-kept parsers are out of reach: azcore's and the Databricks
// SDK's live in internal packages, and net/http offers only the date half (http.ParseTime).
package retryafter

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parse reads a Retry-After value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date, taken
// relative to now) and bounds it to [lo, hi]: a date in the past or "0" means "retry now" and
// becomes lo, so a caller is never told to hammer an upstream; a huge value becomes hi, so a bogus
// header cannot park a flow for hours. ok is false for an empty, negative or unparseable value,
// for which the caller keeps its own default.
func Parse(v string, now time.Time, lo, hi time.Duration) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(hi/time.Second) { // before multiplying: seconds can overflow a Duration
			return hi, true
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now).Round(time.Second)
	} else {
		return 0, false
	}
	return min(max(d, lo), hi), true
}
