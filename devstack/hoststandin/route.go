package hoststandin

import (
	"fmt"
	"net/url"
	"strings"
)

// Route templates are ASP.NET Core route templates (docs/architecture.md, Azure Functions custom handler (forwarding mode)). No Go library implements that syntax,
// so this file implements the subset a Functions app with a catch-all route needs — literal segments,
// {name}, optional {name?} / {name=default} at the end, and a final {*name} / {**name} catch-all — and
// refuses the rest (constraints, complex segments) instead of guessing.

// segKind values are ordered like ASP.NET's inbound precedence digits (literal 1, parameter 3, optional
// parameter 4, catch-all 5): lower is more specific.
type segKind int

const (
	segLiteral segKind = iota + 1
	segParam
	segOptional
	segCatchAll
)

type segment struct {
	kind    segKind
	literal string // segLiteral only
}

type routeTemplate struct {
	text     string
	segments []segment
}

func parseRouteTemplate(text string) (*routeTemplate, error) {
	t := &routeTemplate{text: text}
	if text == "" {
		return t, nil
	}
	parts := strings.Split(text, "/")
	for i, p := range parts {
		last := i == len(parts)-1
		switch {
		case p == "":
			return nil, fmt.Errorf("%w: empty segment in route template", ErrInvalidConfig)
		case !strings.ContainsAny(p, "{}"):
			t.segments = append(t.segments, segment{kind: segLiteral, literal: p})
			continue
		case !strings.HasPrefix(p, "{") || !strings.HasSuffix(p, "}") || strings.Count(p, "{") != 1 || strings.Count(p, "}") != 1:
			return nil, fmt.Errorf("complex segment %q: %w", p, ErrUnsupported)
		}
		name := p[1 : len(p)-1]
		kind := segParam
		switch {
		case strings.HasPrefix(name, "**"):
			kind, name = segCatchAll, name[2:]
		case strings.HasPrefix(name, "*"):
			kind, name = segCatchAll, name[1:]
		case strings.HasSuffix(name, "?"):
			kind, name = segOptional, strings.TrimSuffix(name, "?")
		case strings.Contains(name, "="):
			name, _, _ = strings.Cut(name, "=") // a default value makes the parameter optional
			kind = segOptional
		}
		if strings.Contains(name, ":") {
			return nil, fmt.Errorf("route constraint in %q: %w", p, ErrUnsupported)
		}
		if name == "" || strings.ContainsAny(name, "*?=") {
			return nil, fmt.Errorf("%w: bad parameter %q in route template", ErrInvalidConfig, p)
		}
		if kind == segCatchAll && !last {
			return nil, fmt.Errorf("%w: a catch-all parameter can only be the last segment (%q)", ErrInvalidConfig, p)
		}
		t.segments = append(t.segments, segment{kind: kind})
	}
	// An optional parameter may only be followed by other optional parameters.
	for i, s := range t.segments {
		if s.kind == segOptional {
			for _, after := range t.segments[i+1:] {
				if after.kind != segOptional {
					return nil, fmt.Errorf("%w: an optional parameter must be at the end of the route template", ErrInvalidConfig)
				}
			}
		}
	}
	return t, nil
}

// match reports whether an escaped request path matches the template. Literals compare case-insensitively
// on the decoded segment; a single trailing slash is ignored; parameters need a non-empty segment; a
// catch-all matches the rest, including nothing.
func (t *routeTemplate) match(escapedPath string) bool {
	p := strings.TrimPrefix(escapedPath, "/")
	p = strings.TrimSuffix(p, "/")
	var parts []string
	if p != "" {
		parts = strings.Split(p, "/")
	}
	for i, s := range t.segments {
		if s.kind == segCatchAll {
			return true
		}
		if i >= len(parts) {
			return s.kind == segOptional // every remaining segment is optional (checked at parse time)
		}
		seg, err := url.PathUnescape(parts[i])
		if err != nil || seg == "" {
			return false
		}
		if s.kind == segLiteral && !strings.EqualFold(seg, s.literal) {
			return false
		}
	}
	return len(parts) == len(t.segments)
}

// precedenceLess reports whether t is tried before u: the lower precedence digit wins at the first segment
// where the two differ; a missing segment counts as 0 (ASP.NET RoutePrecedence.ComputeInbound).
func (t *routeTemplate) precedenceLess(u *routeTemplate) bool {
	n := max(len(t.segments), len(u.segments))
	for i := range n {
		var a, b segKind
		if i < len(t.segments) {
			a = t.segments[i].kind
		}
		if i < len(u.segments) {
			b = u.segments[i].kind
		}
		if a != b {
			return a < b
		}
	}
	return false
}
