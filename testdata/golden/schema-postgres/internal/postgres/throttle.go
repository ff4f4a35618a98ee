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

	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres/db"
)

// ThrottleLimits bound sign-in, sign-up, password reset and verification
// attempts in fixed windows. The counters live in Postgres, so every
// instance of the app shares them.
//
// Sign-in counts failed attempts only, under three keys: the account and
// client address together (PerAccount), the account from every address
// (AccountWide) and the client address at every account (PerAddress). A
// known client of an account, an address that signed in to it within
// KnownFor, is bound by the first only, so guessing from elsewhere cannot
// lock the owner out. The other actions count every request, per email
// address (PerAccount) and per client address (PerAddress).
type ThrottleLimits struct {
	// Window is how long a count lasts.
	Window time.Duration
	// PerAccount bounds failed sign-ins at one account from one client
	// address, and requests about one email address.
	PerAccount int
	// PerAddress bounds failed sign-ins and requests from one client
	// address; known clients sign in past it.
	PerAddress int
	// AccountWide bounds failed sign-ins at one account from every client
	// address together; known clients sign in past it (5 × PerAccount when
	// 0).
	AccountWide int
	// KnownFor is how long a successful sign-in makes its client address a
	// known client of the account (DefaultKnownFor when 0).
	KnownFor time.Duration
}

// DefaultKnownFor is how long a client stays known after signing in.
const DefaultKnownFor = 30 * 24 * time.Hour

// DefaultThrottle allows, every 15 minutes, 10 failed sign-ins at an
// account from one client address, 50 from all of them and 100 from one
// address at any accounts; and 10 requests per email address and 100 per
// client address.
var DefaultThrottle = ThrottleLimits{Window: 15 * time.Minute, PerAccount: 10, PerAddress: 100, AccountWide: 50, KnownFor: DefaultKnownFor}

// withDefaults fills in the limits left 0 that others imply.
func (l ThrottleLimits) withDefaults() ThrottleLimits {
	if l == (ThrottleLimits{}) {
		return DefaultThrottle
	}
	if l.AccountWide <= 0 {
		l.AccountWide = 5 * l.PerAccount
	}
	if l.KnownFor <= 0 {
		l.KnownFor = DefaultKnownFor
	}
	return l
}

// staleThrottleEvery is how many attempts pass between deletions of counters
// whose window is long over and of clients no longer known.
const staleThrottleEvery = 1000

// The action sign-in attempts are counted under.
const loginAction = "login"

type throttle struct {
	queries *db.Queries
	limits  ThrottleLimits
	hits    atomic.Uint64
}

// prune deletes, every staleThrottleEvery calls, the counters whose window
// is over and the clients no longer known.
func (t *throttle) prune(ctx context.Context) error {
	if t.hits.Add(1)%staleThrottleEvery != 0 {
		return nil
	}
	before := pgtype.Timestamptz{Time: time.Now().Add(-t.limits.Window), Valid: true}
	if err := t.queries.DeleteStaleThrottles(ctx, before); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	before = pgtype.Timestamptz{Time: time.Now().Add(-t.limits.KnownFor), Valid: true}
	if err := t.queries.DeleteStaleKnownClients(ctx, before); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// hit counts an attempt against key (about account, if not empty) and
// returns the count and its window's start.
func (t *throttle) hit(ctx context.Context, key, account string) (db.HitThrottleRow, error) {
	row, err := t.queries.HitThrottle(ctx, db.HitThrottleParams{
		Key:          key,
		Account:      pgtype.Text{String: account, Valid: account != ""},
		WindowLength: pgtype.Interval{Microseconds: t.limits.Window.Microseconds(), Valid: true},
	})
	if err != nil {
		return db.HitThrottleRow{}, fmt.Errorf("throttle: %w", err)
	}
	return row, nil
}

// retryAfter is how long a count over its limit in the window starting at
// start lasts.
func (t *throttle) retryAfter(start pgtype.Timestamptz) time.Duration {
	return max(time.Until(start.Time.Add(t.limits.Window)), time.Nanosecond)
}

// throttled is the ETHROTTLED error asking to wait, in whole seconds.
func throttled(wait time.Duration) error {
	seconds := int((wait + time.Second - 1) / time.Second)
	return domain.Throttled(time.Duration(seconds)*time.Second,
		"Too many attempts; try again in "+strconv.Itoa(seconds)+" seconds.")
}

// check counts a request for action (sign-up, password reset, verification)
// against the email address and the client address, and returns
// ETHROTTLED (with how long to wait) when either is over its limit.
// Unknown accounts count like known ones, so the limit does not tell them
// apart.
func (t *throttle) check(ctx context.Context, action, account, addr string) error {
	if err := t.prune(ctx); err != nil {
		return err
	}
	var wait time.Duration
	for _, c := range []struct {
		key   string
		limit int
	}{
		{throttleKey(action, "account", account), t.limits.PerAccount},
		{throttleKey(action, "address", addr), t.limits.PerAddress},
	} {
		row, err := t.hit(ctx, c.key, "")
		if err != nil {
			return err
		}
		if int(row.Hits) > c.limit {
			wait = max(wait, t.retryAfter(row.WindowStart))
		}
	}
	if wait > 0 {
		return throttled(wait)
	}
	return nil
}

// loginAttempt is a sign-in counted as failed until it succeeds.
type loginAttempt struct {
	t       *throttle
	account string // the hash of the account
	client  string // the hash of the client address
	pair    string // the key of the account and client address together
	counted []counted
}

// counted is a hit taken back if the attempt succeeds.
type counted struct {
	key   string
	start pgtype.Timestamptz
}

// startLogin counts a sign-in attempt at account from addr as a failure
// before the password is checked (so that attempts made at once are all
// counted), and returns ETHROTTLED, taking the count back, when the
// attempt is over a limit. An attempt that turns out to succeed is taken
// back with succeeded. Unknown accounts count like known ones.
func (t *throttle) startLogin(ctx context.Context, account, addr string) (*loginAttempt, error) {
	if err := t.prune(ctx); err != nil {
		return nil, err
	}
	a := &loginAttempt{
		t:       t,
		account: throttleKey(loginAction, "account", account),
		client:  throttleKey(loginAction, "client", addr),
	}
	a.pair = throttleKey(loginAction, "pair", account+"\x00"+addr)
	known, err := t.queries.IsKnownClient(ctx, db.IsKnownClientParams{
		Account: a.account, Client: a.client,
		Since: pgtype.Timestamptz{Time: time.Now().Add(-t.limits.KnownFor), Valid: true},
	})
	if err != nil {
		return nil, fmt.Errorf("throttle: %w", err)
	}
	var wait time.Duration
	for _, c := range []struct {
		key, account string
		limit        int
		binds        bool
	}{
		{a.pair, a.account, t.limits.PerAccount, true},
		{a.account, a.account, t.limits.AccountWide, !known},
		{throttleKey(loginAction, "address", addr), "", t.limits.PerAddress, !known},
	} {
		row, err := t.hit(ctx, c.key, c.account)
		if err != nil {
			return nil, err
		}
		a.counted = append(a.counted, counted{key: c.key, start: row.WindowStart})
		if c.binds && int(row.Hits) > c.limit {
			wait = max(wait, t.retryAfter(row.WindowStart))
		}
	}
	if wait > 0 {
		// A refused attempt checks no password: it counts nowhere.
		if err := a.takeBack(ctx); err != nil {
			return nil, err
		}
		return nil, throttled(wait)
	}
	return a, nil
}

// takeBack uncounts the attempt.
func (a *loginAttempt) takeBack(ctx context.Context) error {
	for _, c := range a.counted {
		if err := a.t.queries.UnhitThrottle(ctx, db.UnhitThrottleParams{Key: c.key, WindowStart: c.start}); err != nil {
			return fmt.Errorf("throttle: %w", err)
		}
	}
	return nil
}

// succeeded uncounts a successful sign-in, clears the failures of the
// account from its client address and makes the address a known client of
// the account.
func (a *loginAttempt) succeeded(ctx context.Context) error {
	if err := a.takeBack(ctx); err != nil {
		return err
	}
	if err := a.t.queries.ResetThrottle(ctx, a.pair); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return a.known(ctx, a.t.queries)
}

// known records the client address as a known client of the account, with q.
func (a *loginAttempt) known(ctx context.Context, q *db.Queries) error {
	if err := q.RecordKnownClient(ctx, db.RecordKnownClientParams{Account: a.account, Client: a.client}); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// forgetAccount clears every sign-in count about account and forgets its
// known clients, with q (in the transaction that resets its password).
func forgetAccount(ctx context.Context, q *db.Queries, account string) error {
	key := throttleKey(loginAction, "account", account)
	if err := q.ResetAccountThrottles(ctx, pgtype.Text{String: key, Valid: true}); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	if err := q.DeleteKnownClients(ctx, key); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// throttleKey names a counter without storing the email or address itself.
func throttleKey(action, kind, value string) string {
	sum := sha256.Sum256([]byte(action + "\x00" + kind + "\x00" + value))
	return action + ":" + kind + ":" + hex.EncodeToString(sum[:16])
}
