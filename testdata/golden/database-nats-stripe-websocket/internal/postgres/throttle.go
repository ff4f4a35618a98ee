package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/postgres/db"
)

// ThrottleLimits bound sign-in and sign-up attempts in a fixed window: per
// account (email address) and per client address. The counters live in
// Postgres, so every instance of the app shares them.
type ThrottleLimits struct {
	Window     time.Duration
	PerAccount int
	PerAddress int
}

// DefaultThrottle allows 10 attempts per account and 100 per client address
// every 15 minutes. Logging in successfully clears the account's count.
var DefaultThrottle = ThrottleLimits{Window: 15 * time.Minute, PerAccount: 10, PerAddress: 100}

// staleThrottleEvery is how many attempts pass between deletions of counters
// whose window is long over.
const staleThrottleEvery = 1000

type throttle struct {
	queries *db.Queries
	limits  ThrottleLimits
	hits    atomic.Uint64
}

// check counts an attempt at action against the account and the client
// address, and returns ETHROTTLED (with how long to wait) when either is
// over its limit. Unknown accounts count like known ones, so the limit
// does not tell them apart.
func (t *throttle) check(ctx context.Context, action, account, addr string) error {
	if t.hits.Add(1)%staleThrottleEvery == 0 {
		before := pgtype.Timestamptz{Time: time.Now().Add(-t.limits.Window), Valid: true}
		if err := t.queries.DeleteStaleThrottles(ctx, before); err != nil {
			return fmt.Errorf("throttle: %w", err)
		}
	}
	var wait time.Duration
	for _, c := range []struct {
		key   string
		limit int
	}{
		{throttleKey(action, "account", account), t.limits.PerAccount},
		{throttleKey(action, "address", addr), t.limits.PerAddress},
	} {
		row, err := t.queries.HitThrottle(ctx, db.HitThrottleParams{
			Key:          c.key,
			WindowLength: pgtype.Interval{Microseconds: t.limits.Window.Microseconds(), Valid: true},
		})
		if err != nil {
			return fmt.Errorf("throttle: %w", err)
		}
		if int(row.Hits) > c.limit {
			wait = max(wait, time.Until(row.WindowStart.Time.Add(t.limits.Window)))
		}
	}
	if wait > 0 {
		seconds := int((wait + time.Second - 1) / time.Second)
		return domain.Throttled(time.Duration(seconds)*time.Second,
			"Too many attempts; try again in "+strconv.Itoa(seconds)+" seconds.")
	}
	return nil
}

// reset clears an account's count after a successful login.
func (t *throttle) reset(ctx context.Context, action, account string) error {
	if err := t.queries.ResetThrottle(ctx, throttleKey(action, "account", account)); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// throttleKey names a counter without storing the email or address itself.
func throttleKey(action, kind, value string) string {
	sum := sha256.Sum256([]byte(action + "\x00" + kind + "\x00" + value))
	return action + ":" + kind + ":" + hex.EncodeToString(sum[:16])
}
