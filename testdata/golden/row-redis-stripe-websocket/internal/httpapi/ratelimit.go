package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/acme/shop-api/internal/domain"
)

// Rate is a token bucket: PerSecond requests a second on average, Burst at
// once. The zero Rate sets no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// RateLimits bound how fast the API may be called: by each client address
// (every route but health, readiness and metrics, signed in or not), by
// each user or API key, and by each tenant (counted once the caller's
// access to it is checked, so no outsider can spend a tenant's budget).
// They are kept in the process: with N instances behind a load balancer a
// client gets up to N times each. Excess requests are answered 429 with
// Retry-After and the problem type ProblemRateLimited.
type RateLimits struct {
	IP, User, Tenant Rate
}

// ProblemRateLimited is the problem type of a request refused by a rate
// limit.
const ProblemRateLimited = "/problems/rate-limited"

// maxBuckets bounds the buckets a limit keeps. Full buckets are forgotten
// (a full bucket is a new one), so only keys active within about
// Burst/PerSecond count; past the bound, new keys wait.
const maxBuckets = 100_000

// buckets is one limit's token buckets, by key.
type buckets struct {
	rate  Rate
	mu    sync.Mutex
	m     map[string]*rate.Limiter
	swept time.Time
}

// newBuckets returns the buckets of r, or nil (no limit) for the zero Rate.
func newBuckets(r Rate) *buckets {
	if r.PerSecond <= 0 || r.Burst <= 0 {
		return nil
	}
	return &buckets{rate: r, m: map[string]*rate.Limiter{}}
}

// newKeyedBuckets returns buckets of r, which takeAt may give other rates
// key by key, even when r is the zero Rate.
func newKeyedBuckets(r Rate) *buckets {
	return &buckets{rate: r, m: map[string]*rate.Limiter{}}
}

// take takes a token from key's bucket, or reports how long until there is
// one. A nil buckets always has one.
func (b *buckets) take(key string, now time.Time) (time.Duration, bool) {
	if b == nil {
		return 0, true
	}
	return b.takeAt(key, now, b.rate)
}

// takeAt is take with key's bucket at rate r instead of the buckets' own
// (a tenant's plan sets its own); a bucket whose rate changed keeps its
// tokens. The zero Rate always has a token.
func (b *buckets) takeAt(key string, now time.Time, r Rate) (time.Duration, bool) {
	if b == nil || r.PerSecond <= 0 || r.Burst <= 0 {
		return 0, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.swept) > time.Minute || len(b.m) >= maxBuckets {
		b.sweep(now)
	}
	l, ok := b.m[key]
	if !ok {
		if len(b.m) >= maxBuckets {
			return time.Second, false
		}
		l = rate.NewLimiter(rate.Limit(r.PerSecond), r.Burst)
		b.m[key] = l
	} else if l.Limit() != rate.Limit(r.PerSecond) || l.Burst() != r.Burst {
		l.SetLimitAt(now, rate.Limit(r.PerSecond))
		l.SetBurstAt(now, r.Burst)
	}
	res := l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// sweep forgets the buckets that are full again.
func (b *buckets) sweep(now time.Time) {
	b.swept = now
	for k, l := range b.m {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(b.m, k)
		}
	}
}

// rateLimited is the error of a request over limit, waiting wait.
func rateLimited(wait time.Duration, what string) error {
	e := domain.Throttled(wait, "Too many requests "+what+"; retry after "+retryAfterSeconds(wait)+" s.")
	e.Type = ProblemRateLimited
	return e
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// unlimitedPaths are not rate limited: probes and scrapes must get through
// a flood to report it.
var unlimitedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// limitClients refuses a client address's requests over the IP limit. It
// runs inside observe, which knows the address.
func limitClients(b *buckets, next http.Handler) http.Handler {
	if b == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unlimitedPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if wait, ok := b.take(clientAddr(r.Context()), time.Now()); !ok {
			body, _ := json.Marshal(map[string]any{
				"type": ProblemRateLimited, "title": http.StatusText(http.StatusTooManyRequests), "status": http.StatusTooManyRequests,
				"detail": "Too many requests from this address; retry after " + retryAfterSeconds(wait) + " s.",
			})
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Retry-After", retryAfterSeconds(wait))
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write(body)
			return
		}
		next.ServeHTTP(w, r)
	})
}
