package config

import (
	"path"
	"strconv"
	"strings"
	"time"
)

// Realtime configures the WebSocket of realtime events.
type Realtime struct {
	// AllowedOrigins are the host patterns (as "app.example.com" or
	// "*.example.com") of the web pages besides the API's own host that may
	// open the WebSocket (REALTIME_ALLOWED_ORIGINS, comma-separated).
	AllowedOrigins []string
	// MaxPerUser and MaxPerTenant bound the sockets of one user and of one
	// tenant on each instance (REALTIME_MAX_CONNS_PER_USER,
	// REALTIME_MAX_CONNS_PER_TENANT).
	MaxPerUser, MaxPerTenant int
	// RecheckInterval is how often each socket's access is re-checked
	// without a revocation message (REALTIME_RECHECK_INTERVAL).
	RecheckInterval time.Duration
}

// realtime reads the REALTIME_* variables.
func (l *loader) realtime() Realtime {
	interval := l.duration(l.optional("REALTIME_RECHECK_INTERVAL", "1m"))
	if interval > 0 && interval < time.Second {
		l.fail("REALTIME_RECHECK_INTERVAL", "must be at least 1s (got %s)", interval)
	}
	return Realtime{
		AllowedOrigins:  l.originPatterns(l.optional("REALTIME_ALLOWED_ORIGINS", "")),
		MaxPerUser:      l.atLeastOne(l.optional("REALTIME_MAX_CONNS_PER_USER", "20")),
		MaxPerTenant:    l.atLeastOne(l.optional("REALTIME_MAX_CONNS_PER_TENANT", "2000")),
		RecheckInterval: interval,
	}
}

// originPatterns checks a comma-separated list of host patterns.
func (l *loader) originPatterns(v variable) []string {
	var patterns []string
	for p := range strings.SplitSeq(v.value, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil || strings.Contains(p, "/") {
			l.fail(v.name, "%q is not a host pattern such as app.example.com or *.example.com", p)
			continue
		}
		patterns = append(patterns, p)
	}
	return patterns
}

// atLeastOne checks a whole number from 1 to a million.
func (l *loader) atLeastOne(v variable) int {
	n, err := strconv.Atoi(v.value)
	if err != nil || n < 1 || n > 1_000_000 {
		l.fail(v.name, "must be a whole number from 1 to 1000000 (got %q)", v.value)
		return 0
	}
	return n
}
