package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/auth"
	"ledger.internal/svc/internal/config"
	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/httpapi"
	"ledger.internal/svc/internal/logging"
	"ledger.internal/svc/internal/postgres"
	"ledger.internal/svc/internal/postgres/tenantdb"
	"ledger.internal/svc/internal/testsvc"
)

// These tests attack tenant isolation from outside, through HTTP only.

const baseDomain = "example.test"

// apiBundle is an API over a fresh, migrated database, and a signed-in
// user whose token call sends.
type apiBundle struct {
	handler  http.Handler
	logs     *testsvc.LogBuffer
	tenants  *postgres.Tenants
	identity *postgres.Identity
	mail     *mailbox
	dbURL    string // the app's connection, for looking at what is stored
	token    string
	// remoteAddr is the client address of requests ("" for httptest's).
	remoteAddr string
	// timeout bounds each request (none when zero).
	timeout time.Duration
}

// bundleOptions tunes setupAPI.
type bundleOptions struct {
	throttle postgres.ThrottleLimits
	hasher   *auth.Hasher
	appURL   string
	seats    postgres.SeatKeeper
	// Caps, none when zero.
	maxOwnedTenants, maxPendingInvitations, maxInvitationsPerDay int64
	// tracer sees every statement (see postgres.TenantsOptions.Tracer).
	tracer pgx.QueryTracer
	// timeout bounds each request, sign-up included (none when zero).
	timeout time.Duration
}

func setupAPI(t *testing.T) *apiBundle {
	t.Helper()
	return setupAPIWith(t, bundleOptions{})
}

func setupAPIWith(t *testing.T, opts bundleOptions) *apiBundle {
	t.Helper()
	b, _ := setupAPIOn(t, testsvc.NewTenancyConfig(t), opts)
	return b
}

// setupAPIOn migrates the environment cfg describes and serves the API over
// it, signed in as owner@example.com.
func setupAPIOn(tb testing.TB, cfg config.Database, opts bundleOptions) (*apiBundle, *postgres.Tenants) {
	tb.Helper()
	tenants := testsvc.MigratedTenants(tb, cfg, postgres.TenantsOptions{MaxOwnedTenants: opts.maxOwnedTenants, Tracer: opts.tracer}, migrateQueue)
	b := serveAPI(tb, cfg, tenants, opts)
	b.token = b.signUpAndLogin(tb, "owner@example.com")
	return b, tenants
}

// serveAPI serves the API over tenants, whose environment cfg describes,
// as one process: its identity service and handler, no one signed in.
func serveAPI(tb testing.TB, cfg config.Database, tenants *postgres.Tenants, opts bundleOptions) *apiBundle {
	tb.Helper()
	tenants.UseSeams(postgres.Seams{Audit: postgres.NewAuditLog(tenants)})
	if opts.hasher == nil {
		opts.hasher = testHasher(tb)
	}
	if opts.throttle == (postgres.ThrottleLimits{}) {
		// Generous: every request of a test comes from one address.
		opts.throttle = postgres.ThrottleLimits{Window: time.Minute, PerAccount: 1000, PerAddress: 10000}
	}
	logs := &testsvc.LogBuffer{}
	mail := &mailbox{}
	identity, err := postgres.NewIdentity(tenants, postgres.IdentityOptions{
		Hasher: opts.hasher, Mail: mail, Throttle: opts.throttle, AppURL: opts.appURL, Seats: opts.seats,
		Logger:                logging.New(logs, slog.LevelDebug, logging.JSON),
		MaxPendingInvitations: opts.maxPendingInvitations, MaxInvitationsPerDay: opts.maxInvitationsPerDay,
	})
	require.NoError(tb, err)
	b := newAPIBundle(tb, tenants, identity, logs, withBilling(tb, cfg.URL))
	b.tenants, b.identity, b.mail, b.dbURL, b.timeout = tenants, identity, mail, cfg.URL, opts.timeout
	return b
}

func newAPIBundle(tb testing.TB, tenants httpapi.Tenants, identity httpapi.Identity, logs *testsvc.LogBuffer, more ...func(*httpapi.Deps)) *apiBundle {
	tb.Helper()
	b := &apiBundle{logs: logs}
	deps := httpapi.Deps{
		Logger:     logging.New(logs, slog.LevelDebug, logging.JSON),
		Version:    "test",
		BaseDomain: baseDomain,
		Tenants:    tenants,
		Identity:   identity,
		Audit:      auditLogOf(tenants),
	}
	for _, set := range more {
		set(&deps)
	}
	handler, err := httpapi.NewHandler(deps)
	require.NoError(tb, err)
	b.handler = handler
	return b
}

// call serves one request with the bundle's token: host "" means no tenant
// subdomain, tenant "" means no X-Tenant header; body is JSON-encoded
// unless nil.
func (b *apiBundle) call(tb testing.TB, method, path, host, tenant string, body any) response {
	tb.Helper()
	return b.callAs(tb, b.token, method, path, host, tenant, body)
}

// callAs is call with another bearer token ("" for none).
func (b *apiBundle) callAs(tb testing.TB, token, method, path, host, tenant string, body any) response {
	tb.Helper()
	var reader *bytes.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(tb, err)
		reader = bytes.NewReader(raw)
	} else {
		reader = bytes.NewReader(nil)
	}
	ctx := tb.Context()
	if b.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	req := httptest.NewRequestWithContext(ctx, method, path, reader)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if host != "" {
		req.Host = host
	}
	if tenant != "" {
		req.Header.Set(httpapi.TenantHeader, tenant)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if s, ok := body.(signedEvent); ok {
		req.Header.Set("Stripe-Signature", s.signature)
	}
	if b.remoteAddr != "" {
		req.RemoteAddr = b.remoteAddr
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

type tenantJSON struct {
	ID        string `json:"id"`
	Slug      string `json:"slug"`
	Name      string `json:"name"`
	Suspended bool   `json:"suspended"`
}

// namedProjectJSON is a project with the name the tests tell projects apart by.
type namedProjectJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type pageJSON[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

type problemJSON struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func decode[T any](tb testing.TB, res response) T {
	tb.Helper()
	var v T
	require.NoError(tb, json.Unmarshal(res.body, &v), string(res.body))
	return v
}

// No request waits for a second connection while it holds one. With the
// registry's pool cut to one connection (pool_max_conns=1) such a wait
// never ends; at the pool's real size it ends the same way once as many
// requests wait as the pool has connections. Tenants.Delete did: it held
// the slug's lock on one connection and waited for another to mark the
// tenant deleting.
func TestARequestNeverWaitsForASecondConnection(t *testing.T) {
	t.Parallel()
	cfg := testsvc.NewTenancyConfig(t)
	sep := "?"
	if strings.Contains(cfg.URL, "?") {
		sep = "&"
	}
	cfg.URL += sep + "pool_max_conns=1"
	cfg.SessionURL = cfg.URL // one pool, as when DATABASE_SESSION_URL is unset
	b, _ := setupAPIOn(t, cfg, bundleOptions{timeout: 20 * time.Second})
	b.createTenant(t, "acme")
	project := b.createNamedProject(t, "acme", "Apollo")
	for _, path := range []string{"/v1/projects", "/v1/projects/" + project.ID, "/v1/members", "/v1/audit-events"} {
		res := b.call(t, http.MethodGet, path, "", "acme", nil)
		require.Equal(t, http.StatusOK, res.status, "GET %s: %s", path, res.body)
	}
	res := b.call(t, http.MethodPost, "/v1/api-keys", "", "acme", map[string]string{"name": "deploys", "role": domain.RoleMember})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	res = b.call(t, http.MethodDelete, "/v1/tenants/acme", "", "", map[string]string{"confirm": "acme"})
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	b.createTenant(t, "acme")
}

func (b *apiBundle) createTenant(t *testing.T, slug string) tenantJSON {
	t.Helper()
	res := b.call(t, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": slug, "name": "Tenant " + slug})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	return decode[tenantJSON](t, res)
}

func (b *apiBundle) createNamedProject(t *testing.T, tenant, name string) namedProjectJSON {
	t.Helper()
	res := b.call(t, http.MethodPost, "/v1/projects", "", tenant, map[string]string{"name": name})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	return decode[namedProjectJSON](t, res)
}

// listAll pages through every project the tenant's requests see.
func (b *apiBundle) listAll(t *testing.T, host, tenant string) []string {
	t.Helper()
	var names []string
	cursor := ""
	for {
		res := b.call(t, http.MethodGet, "/v1/projects?limit=2&cursor="+cursor, host, tenant, nil)
		require.Equal(t, http.StatusOK, res.status, string(res.body))
		page := decode[pageJSON[namedProjectJSON]](t, res)
		for _, p := range page.Items {
			names = append(names, p.Name)
		}
		if page.NextCursor == "" {
			return names
		}
		cursor = page.NextCursor
	}
}

func requireProblem(t *testing.T, res response, status int, detail string) {
	t.Helper()
	require.Equal(t, status, res.status, string(res.body))
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
	p := decode[problemJSON](t, res)
	require.Equal(t, status, p.Status)
	require.Contains(t, p.Detail, detail)
}

func TestCreateAndListTenants(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)

	acme := b.createTenant(t, "acme")
	require.Equal(t, "acme", acme.Slug)
	require.Equal(t, "Tenant acme", acme.Name)
	require.Len(t, acme.ID, 36)
	for _, slug := range []string{"globex", "hooli", "initech"} {
		b.createTenant(t, slug)
	}

	res := b.call(t, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "acme", "name": "Again"})
	requireProblem(t, res, http.StatusConflict, `slug "acme" is taken`)

	var slugs []string
	cursor := ""
	for {
		res := b.call(t, http.MethodGet, "/v1/tenants?limit=3&cursor="+cursor, "", "", nil)
		require.Equal(t, http.StatusOK, res.status)
		page := decode[pageJSON[tenantJSON]](t, res)
		for _, tn := range page.Items {
			slugs = append(slugs, tn.Slug)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Equal(t, []string{"acme", "globex", "hooli", "initech"}, slugs)
}

func TestCreateTenantRefusesBadSlugsWith422(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)

	for slug, detail := range map[string]string{
		"ab":                            "3 to 40 characters",
		strings.Repeat("a", 41):         "3 to 40 characters",
		"Acme":                          "lowercase letters",
		`acme"; DROP SCHEMA public; --`: "lowercase letters",
		"acme_corp":                     "lowercase letters",
		"-acme":                         "start and end",
		"ac--me":                        "consecutive hyphens",
		"www":                           "reserved",
		"admin":                         "reserved",
	} {
		res := b.call(t, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": slug, "name": "Bad"})
		requireProblem(t, res, http.StatusUnprocessableEntity, detail)
	}
	res := b.call(t, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "acme"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "a name is required: %s", res.body)

	res = b.call(t, http.MethodGet, "/v1/tenants", "", "", nil)
	require.Empty(t, decode[pageJSON[tenantJSON]](t, res).Items, "nothing was created")
}

func TestTenantResolution(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.createNamedProject(t, "acme", "launch")

	for _, tc := range []struct {
		name, host, header string
		status             int
		detail             string
	}{
		{"header", "", "acme", http.StatusOK, ""},
		{"subdomain", "acme." + baseDomain, "", http.StatusOK, ""},
		{"subdomain with port", "acme." + baseDomain + ":8080", "", http.StatusOK, ""},
		{"subdomain in capitals", "ACME." + strings.ToUpper(baseDomain), "", http.StatusOK, ""},
		{"subdomain and the same header", "acme." + baseDomain, "acme", http.StatusOK, ""},
		{"the product's own subdomain and a header", "api." + baseDomain, "acme", http.StatusOK, ""},
		{"no tenant at all", "", "", http.StatusBadRequest, "No tenant named"},
		{"the base domain itself", baseDomain, "", http.StatusBadRequest, "No tenant named"},
		{"unknown tenant in the header", "", "globex", http.StatusNotFound, `no tenant "globex"`},
		{"unknown subdomain", "globex." + baseDomain, "", http.StatusNotFound, `no tenant "globex"`},
		{"nested subdomain", "x.acme." + baseDomain, "", http.StatusNotFound, "no tenant"},
		{"malformed header", "", "acme'--", http.StatusNotFound, "no tenant"},
		{"another domain", "acme.elsewhere.test", "", http.StatusBadRequest, "No tenant named"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := b.call(t, http.MethodGet, "/v1/projects", tc.host, tc.header, nil)
			if tc.status == http.StatusOK {
				require.Equal(t, http.StatusOK, res.status, string(res.body))
				require.Len(t, decode[pageJSON[namedProjectJSON]](t, res).Items, 1)
				return
			}
			requireProblem(t, res, tc.status, tc.detail)
		})
	}
}

// Every way for tenant acme's requests to reach globex's data fails.
func TestCrossTenantAttacksOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.createTenant(t, "globex")
	acmeIDs, globexIDs := make([]string, 0, 3), make([]string, 0, 3)
	for i := range 3 {
		acmeIDs = append(acmeIDs, b.createNamedProject(t, "acme", fmt.Sprintf("acme-%d", i)).ID)
		globexIDs = append(globexIDs, b.createNamedProject(t, "globex", fmt.Sprintf("globex-%d", i)).ID)
	}

	t.Run("lists never mix tenants", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, []string{"acme-0", "acme-1", "acme-2"}, b.listAll(t, "", "acme"))
		require.Equal(t, []string{"globex-0", "globex-1", "globex-2"}, b.listAll(t, "globex."+baseDomain, ""))
	})

	t.Run("another tenant's ids are not found", func(t *testing.T) {
		t.Parallel()
		for _, id := range globexIDs {
			res := b.call(t, http.MethodGet, "/v1/projects/"+id, "", "acme", nil)
			requireProblem(t, res, http.StatusNotFound, "No project")
			res = b.call(t, http.MethodGet, "/v1/projects/"+id, "acme."+baseDomain, "", nil)
			requireProblem(t, res, http.StatusNotFound, "No project")
		}
		res := b.call(t, http.MethodGet, "/v1/projects/"+acmeIDs[0], "", "acme", nil)
		require.Equal(t, http.StatusOK, res.status, "the owner still sees it")
	})

	t.Run("the subdomain and the header must agree", func(t *testing.T) {
		t.Parallel()
		res := b.call(t, http.MethodGet, "/v1/projects", "acme."+baseDomain, "globex", nil)
		requireProblem(t, res, http.StatusUnprocessableEntity, `the X-Tenant header names another`)
		require.NotContains(t, string(res.body), "globex-")
		res = b.call(t, http.MethodGet, "/v1/projects/"+globexIDs[0], "acme."+baseDomain, "globex", nil)
		require.Equal(t, http.StatusUnprocessableEntity, res.status)
	})

	t.Run("writes cannot name another tenant", func(t *testing.T) {
		t.Parallel()
		res := b.call(t, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": "smuggled", "tenant_id": "globex"})
		require.Equal(t, http.StatusBadRequest, res.status, "unknown fields are refused: %s", res.body)
		res = b.call(t, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": "smuggled", "id": globexIDs[0]})
		require.Equal(t, http.StatusBadRequest, res.status, "ids are not the client's to choose: %s", res.body)
		require.NotContains(t, b.listAll(t, "", "globex"), "smuggled")
	})

	t.Run("another tenant's cursor pages the caller's own data", func(t *testing.T) {
		t.Parallel()
		res := b.call(t, http.MethodGet, "/v1/projects?limit=1", "", "globex", nil)
		cursor := decode[pageJSON[namedProjectJSON]](t, res).NextCursor
		require.NotEmpty(t, cursor)
		res = b.call(t, http.MethodGet, "/v1/projects?limit=10&cursor="+cursor, "", "acme", nil)
		require.Equal(t, http.StatusOK, res.status)
		for _, p := range decode[pageJSON[namedProjectJSON]](t, res).Items {
			require.True(t, strings.HasPrefix(p.Name, "acme-"), p.Name)
		}
	})

	t.Run("the tenant is resolved before the input is read", func(t *testing.T) {
		t.Parallel()
		res := b.call(t, http.MethodPost, "/v1/projects", "", "nobody", map[string]int{"name": 42})
		require.Equal(t, http.StatusNotFound, res.status, "not 422: an unknown tenant learns nothing about the operation")
		res = b.call(t, http.MethodGet, "/v1/projects/not-a-uuid", "", "nobody", nil)
		require.Equal(t, http.StatusNotFound, res.status)
	})

	t.Run("a forged cursor is refused", func(t *testing.T) {
		t.Parallel()
		res := b.call(t, http.MethodGet, "/v1/projects?cursor=bm90LWEtY3Vyc29y", "", "acme", nil)
		requireProblem(t, res, http.StatusUnprocessableEntity, "cursor")
	})
}

// unavailableTenants resolves every slug but cannot reach any tenant's data,
// as when a tenant's schema or database is missing.
type unavailableTenants struct{}

func (unavailableTenants) Resolve(_ context.Context, slug string) (domain.Tenant, error) {
	return domain.Tenant{ID: "00000000-0000-0000-0000-000000000001", Slug: slug}, nil
}

func (unavailableTenants) CreateOwned(context.Context, string, string, string) (domain.Tenant, error) {
	return domain.Tenant{}, domain.Errorf(domain.EINTERNAL, "not here")
}

func (unavailableTenants) Rename(context.Context, string, string) (domain.Tenant, error) {
	return domain.Tenant{}, domain.Errorf(domain.EINTERNAL, "not here")
}

func (unavailableTenants) Delete(context.Context, string) (domain.Tenant, error) {
	return domain.Tenant{}, domain.Errorf(domain.EINTERNAL, "not here")
}

func (unavailableTenants) InTenant(_ context.Context, t domain.Tenant, _ func(context.Context, *postgres.Unit) error) error {
	return domain.Wrap(fmt.Errorf("schema t_%s does not exist", t.Slug), domain.EUNAVAILABLE,
		"Tenant "+t.Slug+" is unavailable; try again later.")
}

func (u unavailableTenants) ReadTenant(ctx context.Context, t domain.Tenant, _ func(context.Context, *tenantdb.Queries) error) error {
	return u.InTenant(ctx, t, nil)
}

// ownerEverywhere authenticates any token as a user who owns every tenant;
// the other methods of httpapi.Identity are not called by these tests.
type ownerEverywhere struct {
	httpapi.Identity
}

func (ownerEverywhere) AuthenticateIn(context.Context, string, string) (domain.Principal, error) {
	return domain.Principal{UserID: "00000000-0000-0000-0000-000000000002"}, nil
}

func (ownerEverywhere) RememberedIn(context.Context, string, string) (domain.Principal, *postgres.AccessCheck, bool) {
	return domain.Principal{}, nil, false
}

func (ownerEverywhere) Access(_ context.Context, p domain.Principal, t domain.Tenant) (domain.Access, error) {
	return domain.Access{Tenant: t, Principal: p, Role: domain.RoleOwner, Permissions: domain.BuiltinPermissions(domain.RoleOwner)}, nil
}

func TestUnavailableTenantIs503(t *testing.T) {
	t.Parallel()
	logs := &testsvc.LogBuffer{}
	b := newAPIBundle(t, unavailableTenants{}, ownerEverywhere{}, logs)
	b.token = "st_anything"

	res := b.call(t, http.MethodGet, "/v1/projects", "", "acme", nil)
	requireProblem(t, res, http.StatusServiceUnavailable, "Tenant acme is unavailable")
	require.NotContains(t, string(res.body), "does not exist", "the cause is logged, not shown")
	require.Contains(t, b.logs.String(), "does not exist")
	require.Contains(t, b.logs.String(), `"tenant":"acme"`, "log lines name the tenant")
}

// While Postgres cannot be reached every request that needs it answers 503
// with Retry-After, whether it fails in a guard (resolving the tenant) or in
// a handler (creating one), and the cause is logged, not shown.
func TestUnreachableDatabaseIs503(t *testing.T) {
	t.Parallel()
	cfg := testsvc.NewTenancyConfig(t)
	cfg.URL = "postgres://app@" + closedAddress(t) + "/app?sslmode=disable&connect_timeout=5"
	cfg.SessionURL = cfg.URL
	tenants, err := postgres.OpenTenants(t.Context(), cfg, postgres.TenantsOptions{})
	require.NoError(t, err, "an unreachable database is a state readiness reports, not a reason not to start")
	t.Cleanup(tenants.Close)
	logs := &testsvc.LogBuffer{}
	b := newAPIBundle(t, tenants, ownerEverywhere{}, logs)
	b.token = "st_anything"

	for _, res := range []response{
		b.call(t, http.MethodGet, "/v1/projects", "", "acme", nil),
		b.call(t, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "acme", "name": "Acme"}),
	} {
		requireProblem(t, res, http.StatusServiceUnavailable, "temporarily unavailable; try again later")
		require.Equal(t, "5", res.header.Get("Retry-After"))
		require.NotContains(t, string(res.body), "connect", "the cause is logged, not shown")
	}
	require.Contains(t, logs.String(), "failed to connect")
}

// closedAddress returns a local address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// A suspended tenant answers its own owner exactly as a slug never taken
// answers anyone, by header and by subdomain, and is back once resumed.
func TestSuspendedTenantIs404(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.createNamedProject(t, "acme", "launch")

	_, err := b.tenants.Suspend(t.Context(), "acme")
	require.NoError(t, err)
	for _, req := range []struct{ host, header string }{{"", "acme"}, {"acme." + baseDomain, ""}} {
		suspended := b.call(t, http.MethodGet, "/v1/projects", req.host, req.header, nil)
		requireProblem(t, suspended, http.StatusNotFound, `no tenant "acme"`)
		unknown := b.call(t, http.MethodGet, "/v1/projects", strings.ReplaceAll(req.host, "acme", "globex"), strings.ReplaceAll(req.header, "acme", "globex"), nil)
		require.Equal(t, strings.ReplaceAll(string(unknown.body), "globex", "acme"), string(suspended.body), "no oracle")
	}
	res := b.call(t, http.MethodGet, "/v1/tenants", "", "", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Empty(t, decode[pageJSON[tenantJSON]](t, res).Items, "nor listed among the caller's tenants")
	requireProblem(t, b.call(t, http.MethodGet, "/v1/tenants?all=true", "", "", nil), http.StatusForbidden, "Only a superuser")

	// A superuser's list of every tenant shows it, marked suspended, and
	// pages like any other.
	b.createTenant(t, "globex")
	root := b.createSuperuser(t, "root@example.com")
	res = b.callAs(t, root, http.MethodGet, "/v1/tenants?all=true&limit=1", "", "", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	page := decode[pageJSON[tenantJSON]](t, res)
	require.Equal(t, []tenantJSON{{ID: page.Items[0].ID, Slug: "acme", Name: "Tenant acme", Suspended: true}}, page.Items)
	res = b.callAs(t, root, http.MethodGet, "/v1/tenants?all=true&limit=1&cursor="+page.NextCursor, "", "", nil)
	page = decode[pageJSON[tenantJSON]](t, res)
	require.Equal(t, "globex", page.Items[0].Slug)
	require.False(t, page.Items[0].Suspended)
	require.Empty(t, page.NextCursor)
	res = b.callAs(t, root, http.MethodGet, "/v1/tenants", "", "", nil)
	require.Empty(t, decode[pageJSON[tenantJSON]](t, res).Items, "without all=true, theirs: none")

	_, err = b.tenants.Resume(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, []string{"launch"}, b.listAll(t, "", "acme"))
}

// A tenant whose database was dropped behind the app's back fails
// closed over HTTP, live: 503 "tenant unavailable", by header and by
// subdomain, and nothing is served from the control database instead.
func TestMissingStorageIs503(t *testing.T) {
	t.Parallel()
	cfg := testsvc.NewTenancyConfig(t)
	b, _ := setupAPIOn(t, cfg, bundleOptions{})
	b.createTenant(t, "acme")
	b.createNamedProject(t, "acme", "launch")
	b.createTenant(t, "globex")

	conn, err := pgx.Connect(t.Context(), cfg.MigrateURL)
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Close(context.WithoutCancel(t.Context()))) }()
	_, err = conn.Exec(t.Context(), "DROP DATABASE "+pgx.Identifier{cfg.TenantDatabasePrefix + "acme"}.Sanitize()+" WITH (FORCE)")
	require.NoError(t, err)

	for _, req := range []struct{ method, host, header string }{
		{http.MethodGet, "", "acme"},
		{http.MethodGet, "acme." + baseDomain, ""},
		{http.MethodPost, "", "acme"},
	} {
		var body any
		if req.method == http.MethodPost {
			body = map[string]string{"name": "lost"}
		}
		res := b.call(t, req.method, "/v1/projects", req.host, req.header, body)
		requireProblem(t, res, http.StatusServiceUnavailable, "Tenant acme is unavailable")
		require.NotContains(t, string(res.body), "launch")
		require.NotContains(t, string(res.body), "does not exist", "the cause is logged, not shown")
	}
	require.Contains(t, b.logs.String(), "does not exist")
	require.Empty(t, b.listAll(t, "", "globex"), "the other tenant is served as before")
}
