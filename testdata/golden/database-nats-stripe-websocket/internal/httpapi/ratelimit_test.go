package httpapi_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/httpapi"
	"ledger.internal/svc/internal/postgres"
	"ledger.internal/svc/internal/testsvc"
)

// limitedAPI serves b's tenants and identity with limits.
func limitedAPI(t *testing.T, b *apiBundle, limits httpapi.RateLimits) {
	t.Helper()
	handler, err := httpapi.NewHandler(httpapi.Deps{
		Logger: slog.New(slog.DiscardHandler), BaseDomain: baseDomain, Tenants: b.tenants, Identity: b.identity,
		RateLimits: limits,
	})
	require.NoError(t, err)
	b.handler = handler
}

// requireRateLimited checks a 429: Retry-After in whole seconds, and the
// rate-limited problem type.
func requireRateLimited(t *testing.T, res response) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, res.status, string(res.body))
	wait, err := strconv.Atoi(res.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After: %q", res.header.Get("Retry-After"))
	require.GreaterOrEqual(t, wait, 1)
	require.LessOrEqual(t, wait, 60)
	require.Equal(t, httpapi.ProblemRateLimited, decode[map[string]any](t, res)["type"])
}

// A tenant flooding the API is refused past its budget while another
// tenant, served by the same process at the same time, is not.
func TestNoisyNeighbourDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	other := b.signUpAndLogin(t, "other@example.com")
	res := b.callAs(t, other, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "globex", "name": "Globex"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	// One token every 10 s: however slow a loaded machine serves the
	// loop, acme gets little more than its burst.
	limitedAPI(t, b, httpapi.RateLimits{Tenant: httpapi.Rate{PerSecond: 0.1, Burst: 10}})

	refused := 0
	for range 40 {
		res := b.call(t, http.MethodGet, "/v1/projects", "", "acme", nil)
		if res.status == http.StatusTooManyRequests {
			requireRateLimited(t, res)
			refused++
			continue
		}
		require.Equal(t, http.StatusOK, res.status, string(res.body))
	}
	require.GreaterOrEqual(t, refused, 25, "acme is held to its budget")
	for range 10 {
		res := b.callAs(t, other, http.MethodGet, "/v1/projects", "", "globex", nil)
		require.Equal(t, http.StatusOK, res.status, "globex is served while acme floods: %s", res.body)
	}
	// Someone who is not a member cannot spend a tenant's budget.
	for range 20 {
		res := b.callAs(t, other, http.MethodGet, "/v1/projects", "", "acme", nil)
		require.NotEqual(t, http.StatusOK, res.status)
	}
}

// A user's budget spans tenants; an API key has its own; the bucket
// refills at its rate.
func TestUserLimitSpansTenantsAndRefills(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.createTenant(t, "globex")
	// One token every 4 s: the burst is spent before one comes back, even
	// on a loaded machine.
	limitedAPI(t, b, httpapi.RateLimits{User: httpapi.Rate{PerSecond: 0.25, Burst: 4}})
	for i := range 4 {
		res := b.call(t, http.MethodGet, "/v1/projects", "", []string{"acme", "globex"}[i%2], nil)
		require.Equal(t, http.StatusOK, res.status, string(res.body))
	}
	res := b.call(t, http.MethodGet, "/v1/projects", "", "globex", nil)
	requireRateLimited(t, res)
	// Waiting as long as Retry-After says is enough.
	wait, err := strconv.Atoi(res.header.Get("Retry-After"))
	require.NoError(t, err)
	time.Sleep(time.Duration(wait) * time.Second)
	res = b.call(t, http.MethodGet, "/v1/projects", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, "refilled: %s", res.body)
}

// The address limit covers routes no one is signed in to (sign-in here),
// but not the probes.
func TestAddressLimitCoversSignInButNotProbes(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	// One token every 20 s, so three slow sign-ins on a loaded machine
	// still spend the burst.
	limitedAPI(t, b, httpapi.RateLimits{IP: httpapi.Rate{PerSecond: 0.05, Burst: 3}})
	for range 3 {
		res := b.callAs(t, "", http.MethodPost, "/v1/auth/login", "", "", map[string]string{"email": "owner@example.com", "password": "wrong password"})
		require.Equal(t, http.StatusUnauthorized, res.status, string(res.body))
	}
	res := b.callAs(t, "", http.MethodPost, "/v1/auth/login", "", "", map[string]string{"email": "owner@example.com", "password": "wrong password"})
	requireRateLimited(t, res)
	wait, err := strconv.Atoi(res.header.Get("Retry-After"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, wait, 10, "one token every 20 s, less the time the sign-ins took")
	require.LessOrEqual(t, wait, 20)
	for range 5 {
		res := b.callAs(t, "", http.MethodGet, "/healthz", "", "", nil)
		require.Equal(t, http.StatusOK, res.status)
	}
}

// A tenant's pending invitations are capped: past the cap an invitation
// is refused with its own problem type, and revoking one frees a place.
func TestPendingInvitationsAreCapped(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	capped, err := postgres.NewIdentity(b.tenants, postgres.IdentityOptions{Hasher: testHasher(t), Mail: b.mail, MaxPendingInvitations: 2})
	require.NoError(t, err)
	handler, err := httpapi.NewHandler(httpapi.Deps{Logger: slog.New(slog.DiscardHandler), BaseDomain: baseDomain, Tenants: b.tenants, Identity: capped})
	require.NoError(t, err)
	b.handler = handler
	var first string
	for i, email := range []string{"a@example.com", "b@example.com"} {
		res := b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": email, "role": "member"})
		require.Equal(t, http.StatusCreated, res.status, string(res.body))
		if i == 0 {
			first = decode[struct {
				ID string `json:"id"`
			}](t, res).ID
		}
	}
	res := b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "c@example.com", "role": "member"})
	requireProblem(t, res, http.StatusConflict, "2 pending invitations")
	require.Equal(t, postgres.ProblemInvitationLimit, decode[map[string]any](t, res)["type"])
	res = b.call(t, http.MethodDelete, "/v1/invitations/"+first, "", "acme", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	res = b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "c@example.com", "role": "member"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
}

// Invitations made at once against the pending cap: exactly as many as the
// cap are made, the rest refused with the invitation-limit problem.
func TestPendingInvitationCapHoldsUnderConcurrentInvites(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{maxPendingInvitations: 3})
	b.createTenant(t, "acme")
	created := countCreated(t, atOnce(10, func(i int) response {
		return b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": fmt.Sprintf("p%d@example.com", i), "role": "member"})
	}), postgres.ProblemInvitationLimit)
	require.Equal(t, 3, created)
}

// atOnce sends n requests together and returns their responses in order.
func atOnce(n int, send func(i int) response) []response {
	out := make([]response, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() { out[i] = send(i) })
	}
	wg.Wait()
	return out
}

// countCreated counts the 201s among responses; every other one must be a
// 409, of problem type problem unless that is "".
func countCreated(t *testing.T, responses []response, problem string) int {
	t.Helper()
	created := 0
	for _, res := range responses {
		if res.status == http.StatusCreated {
			created++
			continue
		}
		require.Equal(t, http.StatusConflict, res.status, string(res.body))
		if problem != "" {
			require.Equal(t, problem, decode[map[string]any](t, res)["type"])
		}
	}
	return created
}

// Revoking and inviting again cannot send invitations without end: a
// tenant's invitations per day are capped, revoked ones included, and an
// invitation refused for another reason does not count.
func TestDailyInvitationsAreCapped(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{maxInvitationsPerDay: 3})
	b.createTenant(t, "acme")
	res := b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "x@example.com", "role": "no-such-role"})
	require.GreaterOrEqual(t, res.status, 400, string(res.body))
	require.Less(t, res.status, 500, string(res.body))
	for range 3 {
		invited := b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "churn@example.com", "role": "member"})
		require.Equal(t, http.StatusCreated, invited.status, string(invited.body))
		id := decode[struct {
			ID string `json:"id"`
		}](t, invited).ID
		revoked := b.call(t, http.MethodDelete, "/v1/invitations/"+id, "", "acme", nil)
		require.Equal(t, http.StatusNoContent, revoked.status, string(revoked.body))
	}
	res = b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "churn@example.com", "role": "member"})
	requireProblem(t, res, http.StatusConflict, "3 invitations today")
	require.Equal(t, postgres.ProblemInvitationLimit, decode[map[string]any](t, res)["type"])
	require.Len(t, b.mail.to("churn@example.com"), 3, "the refused invitation sends nothing")

	// Another tenant's count is its own.
	b.createTenant(t, "globex")
	res = b.call(t, http.MethodPost, "/v1/invitations", "", "globex", map[string]string{"email": "churn@example.com", "role": "member"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
}

// A user owning as many tenants as the cap cannot create another, even
// with creations at once; deleting one frees a place. The cap counts
// ownership, so another user is not held back.
func TestOwnedTenantsAreCapped(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{maxOwnedTenants: 2})
	b.createTenant(t, "acme")
	// Refused either for the cap or because another creation is under way.
	created := countCreated(t, atOnce(4, func(i int) response {
		return b.call(t, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": fmt.Sprintf("race-%d", i), "name": "Race"})
	}), "")
	require.LessOrEqual(t, created, 1, "one place was left")
	if created == 0 { // every one found another creation under way
		b.createTenant(t, "globex")
	}
	res := b.call(t, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "initech", "name": "Initech"})
	requireProblem(t, res, http.StatusConflict, "you own 2 tenants")
	require.Equal(t, postgres.ProblemTenantLimit, decode[map[string]any](t, res)["type"])

	other := b.signUpAndLogin(t, "other@example.com")
	res = b.callAs(t, other, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "initech", "name": "Initech"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))

	res = b.call(t, http.MethodDelete, "/v1/tenants/acme", "", "", map[string]string{"confirm": "acme"})
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	res = b.call(t, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "umbrella", "name": "Umbrella"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
}

// A remembered session past its user's budget is checked before it is
// told to wait: one that ended hears 401, as a full authentication tells
// it, and not 429.
func TestARememberedSessionPastItsBudgetIsCheckedFirst(t *testing.T) {
	t.Parallel()
	statements := &statementLog{}
	b, _ := setupAPIOn(t, testsvc.NewTenancyConfig(t), bundleOptions{tracer: statements})
	b.createTenant(t, "acme")
	ended := b.login(t, "owner@example.com")
	b.remember(t, statements, ended, "acme", "/v1/projects")
	res := b.callAs(t, ended, http.MethodPost, "/v1/auth/logout", "", "", nil)
	require.Less(t, res.status, 300, string(res.body))

	// The owner's other session spends the user's budget.
	limitedAPI(t, b, httpapi.RateLimits{User: httpapi.Rate{PerSecond: 0.02, Burst: 1}})
	res = b.call(t, http.MethodGet, "/v1/projects", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	requireRateLimited(t, b.call(t, http.MethodGet, "/v1/projects", "", "acme", nil))

	statements.reset()
	res = b.callAs(t, ended, http.MethodGet, "/v1/projects", "", "acme", nil)
	require.Equal(t, http.StatusUnauthorized, res.status, string(res.body))
	require.Equal(t, `Bearer realm="api"`, res.header.Get("WWW-Authenticate"))
	// Let in from memory, refused by the limit, then the check and the
	// full authentication that decides the answer.
	require.GreaterOrEqual(t, len(statements.taken()), 2, "the check, then a full authentication: %v", statements.taken())
}
