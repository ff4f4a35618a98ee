package httpapi_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/auth"
	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres"
	"example.com/acme/internal/testsvc"
)

// password is every test user's password.
const password = "correct horse battery staple"

var (
	hasherOnce sync.Once
	hasher     *auth.Hasher
	errHasher  error
)

// testHasher returns a hasher with the production parameters, made once.
func testHasher(tb testing.TB) *auth.Hasher {
	tb.Helper()
	hasherOnce.Do(func() { hasher, errHasher = auth.NewHasher(auth.DefaultParams) })
	require.NoError(tb, errHasher)
	return hasher
}

// mailbox is a postgres.MailQueue that keeps what it is given, and the
// tenant and key it came with. (Package mail's Queue, which the server
// uses, is tested with a real worker and mail server in packages mail and
// cli.)
type mailbox struct {
	mu   sync.Mutex
	sent []queuedMail
	down bool
}

type queuedMail struct {
	domain.Email
	tenant domain.Tenant
	key    string
}

func (m *mailbox) QueueMail(_ context.Context, _ pgx.Tx, tenant domain.Tenant, key string, e domain.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errors.New("job queue down")
	}
	m.sent = append(m.sent, queuedMail{Email: e, tenant: tenant, key: key})
	return nil
}

func (m *mailbox) setDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
}

// to returns the messages queued for addr so far.
func (m *mailbox) to(addr string) []queuedMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []queuedMail
	for i := range m.sent {
		if m.sent[i].To == addr {
			out = append(out, m.sent[i])
		}
	}
	return out
}

var invitationToken = regexp.MustCompile(`inv_[A-Z2-7]{26}`)

// lastInvitation returns the token of the last invitation mailed to addr.
func (m *mailbox) lastInvitation(t *testing.T, addr string) string {
	t.Helper()
	mails := m.about(addr, "invited")
	require.NotEmpty(t, mails, "no invitation to %s", addr)
	token := invitationToken.FindString(mails[len(mails)-1].Text)
	require.NotEmpty(t, token, "no invitation token in %q", mails[len(mails)-1].Text)
	return token
}

type userJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

type loginJSON struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

type meJSON struct {
	userJSON
	EmailVerified bool `json:"email_verified"`
	Memberships   []struct {
		Tenant tenantJSON `json:"tenant"`
		Role   string     `json:"role"`
	} `json:"memberships"`
}

type memberJSON struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

type apiKeyJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Prefix string `json:"prefix"`
	Key    string `json:"key"`
}

type grantJSON struct {
	ID         string `json:"id"`
	Permission string `json:"permission"`
	ObjectID   string `json:"object_id"`
	UserID     string `json:"user_id"`
	Role       string `json:"role"`
}

func (b *apiBundle) signUp(tb testing.TB, email string) userJSON {
	tb.Helper()
	res := b.callAs(tb, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": email, "password": password, "name": "User " + email})
	require.Equal(tb, http.StatusCreated, res.status, string(res.body))
	return decode[userJSON](tb, res)
}

func (b *apiBundle) login(tb testing.TB, email string) string {
	tb.Helper()
	res := b.callAs(tb, "", http.MethodPost, "/v1/auth/login", "", "", map[string]string{"email": email, "password": password})
	require.Equal(tb, http.StatusOK, res.status, string(res.body))
	return decode[loginJSON](tb, res).Token
}

func (b *apiBundle) signUpAndLogin(tb testing.TB, email string) string {
	tb.Helper()
	b.signUp(tb, email)
	return b.login(tb, email)
}

// createSuperuser makes a superuser the way `user create --superuser`
// does (Identity.CreateUser) and returns their session token.
func (b *apiBundle) createSuperuser(tb testing.TB, email string) string {
	tb.Helper()
	u, err := b.identity.CreateUser(tb.Context(), email, password, "Root", true)
	require.NoError(tb, err)
	require.True(tb, u.Superuser)
	return b.login(tb, email)
}

// join signs up email and makes them a member of tenant in role, invited
// by inviter's token; it returns their session token.
func (b *apiBundle) join(t *testing.T, inviter, tenant, email, role string) string {
	t.Helper()
	token := b.signUpAndLogin(t, email)
	b.invite(t, inviter, tenant, email, role)
	res := b.callAs(t, token, http.MethodPost, "/v1/invitations/accept", "", "", map[string]string{"token": b.mail.lastInvitation(t, email)})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	return token
}

func (b *apiBundle) invite(t *testing.T, inviter, tenant, email, role string) {
	t.Helper()
	res := b.callAs(t, inviter, http.MethodPost, "/v1/invitations", "", tenant, map[string]string{"email": email, "role": role})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
}

// members returns the tenant's members by email.
func (b *apiBundle) members(t *testing.T, token, tenant string) map[string]memberJSON {
	t.Helper()
	res := b.callAs(t, token, http.MethodGet, "/v1/members?limit=100", "", tenant, nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	out := map[string]memberJSON{}
	for _, m := range decode[pageJSON[memberJSON]](t, res).Items {
		out[m.Email] = m
	}
	return out
}

func (b *apiBundle) createAPIKey(t *testing.T, token, tenant, role string) apiKeyJSON {
	t.Helper()
	res := b.callAs(t, token, http.MethodPost, "/v1/api-keys", "", tenant, map[string]string{"name": "key for " + role, "role": role})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	return decode[apiKeyJSON](t, res)
}

// exec runs SQL on the app's own connection, as a test's back door.
func (b *apiBundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), b.dbURL)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.WithoutCancel(t.Context())) }()
	_, err = conn.Exec(t.Context(), sql, args...)
	require.NoError(t, err)
}

// query returns the first column of every row of sql as text.
func (b *apiBundle) query(t *testing.T, sql string, args ...any) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), b.dbURL)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.WithoutCancel(t.Context())) }()
	rows, err := conn.Query(t.Context(), sql, args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

func TestSignUpLoginMeLogout(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)

	res := b.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": "  Ada@Example.COM ", "password": password, "name": "Ada"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	require.JSONEq(t, `{"id":"`+decode[userJSON](t, res).ID+`","email":"ada@example.com","name":"Ada"}`, string(res.body))

	res = b.callAs(t, "", http.MethodPost, "/v1/auth/login", "", "", map[string]string{"email": "ADA@example.com", "password": password})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	first := decode[loginJSON](t, res)
	require.True(t, strings.HasPrefix(first.Token, auth.SessionPrefix))
	require.WithinDuration(t, time.Now().Add(postgres.DefaultSessionTTL), first.ExpiresAt, time.Minute)
	second := b.login(t, "ada@example.com")
	require.NotEqual(t, first.Token, second, "every login gets a new token")

	res = b.callAs(t, first.Token, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "analytical", "name": "Analytical Engines"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	res = b.callAs(t, second, http.MethodGet, "/v1/me", "", "", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	me := decode[meJSON](t, res)
	require.Equal(t, "ada@example.com", me.Email)
	require.Len(t, me.Memberships, 1)
	require.Equal(t, "analytical", me.Memberships[0].Tenant.Slug)
	require.Equal(t, domain.RoleOwner, me.Memberships[0].Role, "creating a tenant makes the caller its owner")

	res = b.callAs(t, first.Token, http.MethodPost, "/v1/auth/logout", "", "", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	res = b.callAs(t, first.Token, http.MethodGet, "/v1/me", "", "", nil)
	requireProblem(t, res, http.StatusUnauthorized, "invalid, expired or revoked")
	require.Equal(t, `Bearer realm="api"`, res.header.Get("WWW-Authenticate"))
	res = b.callAs(t, second, http.MethodGet, "/v1/me", "", "", nil)
	require.Equal(t, http.StatusOK, res.status, "logging out ends that session only")

	res = b.callAs(t, "", http.MethodGet, "/v1/me", "", "", nil)
	requireProblem(t, res, http.StatusUnauthorized, "Authorization: Bearer")
	res = b.callAs(t, "st_"+strings.Repeat("A", 26), http.MethodGet, "/v1/me", "", "", nil)
	requireProblem(t, res, http.StatusUnauthorized, "invalid, expired or revoked")

	b.exec(t, `UPDATE sessions SET expires_at = now() - interval '1 second'`)
	res = b.callAs(t, second, http.MethodGet, "/v1/me", "", "", nil)
	requireProblem(t, res, http.StatusUnauthorized, "expired")
}

func TestSecretsAreStoredHashedAndNeverLogged(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	session := b.login(t, "owner@example.com")
	key := b.createAPIKey(t, b.token, "acme", domain.RoleViewer)
	b.invite(t, b.token, "acme", "grace@example.com", domain.RoleMember)
	invitation := b.mail.lastInvitation(t, "grace@example.com")

	hashes := b.query(t, `SELECT password_hash FROM users`)
	require.Len(t, hashes, 1)
	require.Regexp(t, `^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, hashes[0],
		"argon2id in PHC format at OWASP's parameters, 16-byte salt, 32-byte hash")
	params, err := auth.DecodeParams(hashes[0])
	require.NoError(t, err)
	require.Equal(t, auth.DefaultParams, params)
	require.GreaterOrEqual(t, params.Memory, uint32(19*1024))

	sum := sha256.Sum256([]byte(session))
	require.Contains(t, b.query(t, `SELECT encode(token_hash, 'hex') FROM sessions`), hexOf(sum[:]), "sessions are kept by the token's SHA-256")
	require.Equal(t, []string{key.Prefix}, b.query(t, `SELECT prefix FROM api_keys`))
	require.True(t, strings.HasPrefix(key.Key, key.Prefix))

	// Every column of every identity table, as text.
	var stored strings.Builder
	for _, table := range []string{"users", "sessions", "memberships", "roles", "invitations", "object_grants", "api_keys", "auth_throttle"} {
		for _, row := range b.query(t, `SELECT t::text FROM `+table+` t`) {
			stored.WriteString(row + "\n")
		}
	}
	for name, secret := range map[string]string{"password": password, "session token": session, "API key": key.Key, "invitation token": invitation} {
		require.NotContains(t, stored.String(), secret, "the database holds a plaintext %s", name)
		require.NotContains(t, b.logs.String(), secret, "the log holds a plaintext %s", name)
	}
	require.NotContains(t, b.logs.String(), "correct horse")
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}

func TestLoginAndSignUpDoNotTellWhoHasAnAccount(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	login := func(email, pw string) response {
		return b.callAs(t, "", http.MethodPost, "/v1/auth/login", "", "", map[string]string{"email": email, "password": pw})
	}

	wrongPassword := login("owner@example.com", "not the password")
	unknownUser := login("nobody@example.com", "not the password")
	malformed := login("not an email", "not the password")
	for _, res := range []response{wrongPassword, unknownUser, malformed} {
		requireProblem(t, res, http.StatusUnauthorized, "The email or password is incorrect.")
		require.Equal(t, string(wrongPassword.body), string(res.body), "every failed login reads the same")
	}

	res := b.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": "owner@example.com", "password": "another password", "name": "Mallory"})
	require.Equal(t, http.StatusCreated, res.status, "a taken email gets the answer of a new one: %s", res.body)
	fake := decode[userJSON](t, res)
	require.Equal(t, "owner@example.com", fake.Email)
	require.Len(t, fake.ID, 36)
	require.Equal(t, []string{"1"}, b.query(t, `SELECT count(*)::text FROM users`), "nothing was created")
	requireProblem(t, login("owner@example.com", "another password"), http.StatusUnauthorized, "incorrect")
	require.Equal(t, http.StatusOK, login("owner@example.com", password).status, "the account is unchanged")
	notices := b.mail.about("owner@example.com", "tried to sign up")
	require.Len(t, notices, 1, "the address's owner is told someone tried")
	require.Equal(t, domain.Tenant{}, notices[0].tenant)
	require.NotContains(t, notices[0].key, "owner@", "the job's key, which is not sealed, does not name the address")
	res = b.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": "owner@example.com", "password": "yet another password", "name": "Mallory"})
	require.Equal(t, http.StatusCreated, res.status)
	notices = b.mail.about("owner@example.com", "tried to sign up")
	require.Len(t, notices, 2)
	require.Equal(t, notices[0].key, notices[1].key, "one notice per address and hour: the second has the first's key, so it is not sent again")
}

// countingHasher is the production hasher, counting the work asked of it:
// the parameters of every hash a password was verified against, and how
// many hashes were made.
type countingHasher struct {
	*auth.Hasher
	mu       sync.Mutex
	verified []auth.Params
	hashed   int
}

func (h *countingHasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	params, decodeErr := auth.DecodeParams(encoded)
	h.mu.Lock()
	if decodeErr == nil {
		h.verified = append(h.verified, params)
	}
	h.mu.Unlock()
	return h.Hasher.Verify(ctx, password, encoded)
}

func (h *countingHasher) Hash(ctx context.Context, password string) (string, error) {
	h.mu.Lock()
	h.hashed++
	h.mu.Unlock()
	return h.Hasher.Hash(ctx, password)
}

// take returns the work counted since the last take.
func (h *countingHasher) take() (verified []auth.Params, hashed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	verified, hashed = h.verified, h.hashed
	h.verified, h.hashed = nil, 0
	return verified, hashed
}

// A password reset with a token that cannot be used is answered before any
// hash is made; a live one costs one.
func TestDeadResetTokensCostNoHash(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	hasher := &countingHasher{Hasher: testHasher(t)}
	identity, err := postgres.NewIdentity(b.tenants, postgres.IdentityOptions{Hasher: hasher, Mail: b.mail})
	require.NoError(t, err)
	api := newAPIBundle(t, b.tenants, identity, &testsvc.LogBuffer{})

	res := api.confirmReset(t, "pwr_AAAAAAAAAAAAAAAAAAAAAAAAAA", "a new long password")
	requireProblem(t, res, http.StatusNotFound, "")
	_, hashed := hasher.take()
	require.Zero(t, hashed, "a made-up token costs no hash")

	require.Equal(t, http.StatusAccepted, api.requestReset(t, "owner@example.com").status)
	token := b.mail.lastReset(t, "owner@example.com")
	require.Equal(t, http.StatusNoContent, api.confirmReset(t, token, "a new long password").status)
	_, hashed = hasher.take()
	require.Equal(t, 1, hashed, "a live token costs the new password's hash")
	requireProblem(t, api.confirmReset(t, token, "another long password"), http.StatusNotFound, "")
	_, hashed = hasher.take()
	require.Zero(t, hashed, "a used token costs no hash")
}

// An unknown account costs what a known one does: one password check at
// the parameters of real hashes (counted, not timed), and one hash for a
// sign-up, whether the email is new or taken.
func TestEveryLoginCostsOnePasswordCheck(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	hasher := &countingHasher{Hasher: testHasher(t)}
	identity, err := postgres.NewIdentity(b.tenants, postgres.IdentityOptions{Hasher: hasher, Mail: b.mail})
	require.NoError(t, err)
	api := newAPIBundle(t, b.tenants, identity, &testsvc.LogBuffer{})
	stored, err := auth.DecodeParams(b.query(t, `SELECT password_hash FROM users WHERE email = 'owner@example.com'`)[0])
	require.NoError(t, err)

	for _, c := range []struct {
		name, email, password string
		status                int
	}{
		{"the right password", "owner@example.com", password, http.StatusOK},
		{"a wrong password", "owner@example.com", "not the password", http.StatusUnauthorized},
		{"an unknown account", "nobody@example.com", "not the password", http.StatusUnauthorized},
		{"a malformed email", "not an email", "not the password", http.StatusUnauthorized},
	} {
		res := api.callAs(t, "", http.MethodPost, "/v1/auth/login", "", "", map[string]string{"email": c.email, "password": c.password})
		require.Equal(t, c.status, res.status, "%s: %s", c.name, res.body)
		verified, hashed := hasher.take()
		require.Equal(t, []auth.Params{stored}, verified, "%s: one check, as costly as a real account's", c.name)
		require.Zero(t, hashed, c.name)
	}
	for _, email := range []string{"new@example.com", "owner@example.com"} {
		res := api.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": email, "password": password, "name": "New"})
		require.Equal(t, http.StatusCreated, res.status, string(res.body))
		verified, hashed := hasher.take()
		require.Empty(t, verified, email)
		require.Equal(t, 1, hashed, "%s: one hash, taken or not", email)
	}
}

// loginFrom signs in to email with pw from the client address addr.
func (b *apiBundle) loginFrom(t *testing.T, addr, email, pw string) response {
	t.Helper()
	b.remoteAddr = addr
	defer func() { b.remoteAddr = "" }()
	return b.loginWith(t, email, pw)
}

// requireThrottled requires a 429 saying to retry within the window.
func requireThrottled(t *testing.T, res response, window time.Duration) {
	t.Helper()
	requireProblem(t, res, http.StatusTooManyRequests, "Too many attempts")
	retry, err := strconv.Atoi(res.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After is whole seconds")
	require.True(t, retry >= 1 && retry <= int(window/time.Second), "Retry-After %d", retry)
}

// smallThrottle is a throttle small enough to reach in a test: failed
// sign-ins 3 per account and address, 6 per account, 8 per address.
var smallThrottle = postgres.ThrottleLimits{Window: time.Minute, PerAccount: 3, PerAddress: 8, AccountWide: 6}

func TestLoginAndSignUpAreThrottled(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{throttle: smallThrottle})
	login := b.loginFrom

	// Per account and client address: known and unknown accounts alike
	// get the same answers, and another address is not what was limited.
	for _, email := range []string{"owner@example.com", "nobody@example.com"} {
		for range 3 {
			requireProblem(t, login(t, "198.51.100.1:5000", email, "wrong"), http.StatusUnauthorized, "incorrect")
		}
		requireThrottled(t, login(t, "198.51.100.1:5001", email, password), time.Minute)
		requireProblem(t, login(t, "198.51.100.2:5000", email, "wrong"), http.StatusUnauthorized, "incorrect")
	}
	require.Equal(t, http.StatusOK, login(t, "198.51.100.3:5000", "owner@example.com", password).status)
	requireThrottled(t, login(t, "198.51.100.1:5000", "owner@example.com", password), time.Minute)

	// Per address: many accounts from one address.
	for i := range 8 {
		requireProblem(t, login(t, "203.0.113.7:1234", "user"+strconv.Itoa(i)+"@example.com", "wrong"), http.StatusUnauthorized, "incorrect")
	}
	requireThrottled(t, login(t, "203.0.113.7:4321", "user9@example.com", "wrong"), time.Minute)
	requireProblem(t, login(t, "203.0.113.8:1234", "user9@example.com", "wrong"), http.StatusUnauthorized, "incorrect")

	// The counters name neither the accounts nor the addresses.
	for _, table := range []string{"auth_throttle", "auth_known_clients"} {
		stored := strings.Join(b.query(t, `SELECT t::text FROM `+table+` t`), "\n")
		require.NotEmpty(t, stored, table)
		for _, secret := range []string{"example.com", "198.51.100", "203.0.113", "192.0.2"} {
			require.NotContains(t, stored, secret, table)
		}
	}

	// Sign-ups count per address too.
	for i := range 8 {
		b.remoteAddr = "192.0.2.50:1"
		res := b.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": "new" + strconv.Itoa(i) + "@example.com", "password": password, "name": "New"})
		require.Equal(t, http.StatusCreated, res.status, string(res.body))
	}
	res := b.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": "new9@example.com", "password": password, "name": "New"})
	requireProblem(t, res, http.StatusTooManyRequests, "Too many attempts")
	require.NotEmpty(t, res.header.Get("Retry-After"))

	// And per account: one email address from as many client addresses as
	// it takes, the first creating the account, the next two answered as a
	// new address would be.
	signUp := func(addr, email string) response {
		b.remoteAddr = addr
		defer func() { b.remoteAddr = "" }()
		return b.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": email, "password": password, "name": "Target"})
	}
	for i := range 3 {
		res = signUp("198.51.100."+strconv.Itoa(20+i)+":5000", "target@example.com")
		require.Equal(t, http.StatusCreated, res.status, string(res.body))
	}
	res = signUp("198.51.100.30:5000", "target@example.com")
	requireProblem(t, res, http.StatusTooManyRequests, "Too many attempts")
	retry, err := strconv.Atoi(res.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After is whole seconds")
	require.True(t, retry >= 1 && retry <= 60, "Retry-After %d", retry)
	res = signUp("198.51.100.30:5001", "other@example.com")
	require.Equal(t, http.StatusCreated, res.status, "the address is not what was limited: %s", res.body)
	require.Equal(t, []string{"1"}, b.query(t, `SELECT count(*)::text FROM users WHERE email = 'target@example.com'`))
}

// Ten failed sign-ins at an account (the default limit) from one address
// refuse that address, even the right password, not the owner elsewhere.
func TestLoginThrottleRefusesTheGuesserNotTheOwner(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{throttle: postgres.DefaultThrottle})
	b.signUp(t, "victim@example.com")
	const attacker, owner = "203.0.113.66:4000", "198.51.100.20:5000"

	for range postgres.DefaultThrottle.PerAccount {
		requireProblem(t, b.loginFrom(t, attacker, "victim@example.com", "a guess"), http.StatusUnauthorized, "incorrect")
	}
	requireThrottled(t, b.loginFrom(t, attacker, "victim@example.com", password), postgres.DefaultThrottle.Window)
	res := b.loginFrom(t, owner, "victim@example.com", password)
	require.Equal(t, http.StatusOK, res.status, "the owner, from an address never seen, signs in at once: %s", res.body)
	requireThrottled(t, b.loginFrom(t, attacker, "victim@example.com", password), postgres.DefaultThrottle.Window)
}

// Failed sign-ins at many accounts from one address (an office behind one
// NAT) refuse that address to accounts that never signed in from it, not
// to the people who did.
func TestLoginThrottleLetsKnownClientsPastTheAddressLimit(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{throttle: smallThrottle})
	const office = "203.0.113.7"
	b.signUp(t, "ada@example.com")
	b.signUp(t, "bob@example.com")
	require.Equal(t, http.StatusOK, b.loginFrom(t, office+":1000", "ada@example.com", password).status)

	for i := range smallThrottle.PerAddress {
		res := b.loginFrom(t, office+":"+strconv.Itoa(2000+i), "user"+strconv.Itoa(i)+"@example.com", "a guess")
		requireProblem(t, res, http.StatusUnauthorized, "incorrect")
	}
	requireThrottled(t, b.loginFrom(t, office+":3000", "bob@example.com", password), time.Minute)
	requireThrottled(t, b.loginFrom(t, office+":3000", "nobody@example.com", "a guess"), time.Minute)
	require.Equal(t, http.StatusOK, b.loginFrom(t, office+":3001", "ada@example.com", password).status,
		"ada signed in from the office before")
	require.Equal(t, http.StatusOK, b.loginFrom(t, "198.51.100.5:1", "bob@example.com", password).status,
		"bob, from elsewhere")

	// A known client is still bound by its own limit at its account.
	for range smallThrottle.PerAccount {
		requireProblem(t, b.loginFrom(t, office+":4000", "ada@example.com", "a guess"), http.StatusUnauthorized, "incorrect")
	}
	requireThrottled(t, b.loginFrom(t, office+":4000", "ada@example.com", password), time.Minute)
}

// Guessing at one account from many addresses refuses the account to new
// addresses, not to the owner's known one; a password reset lets the owner
// in from a new one.
func TestLoginThrottleStopsDistributedGuessing(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{throttle: smallThrottle})
	const home = "198.51.100.10:5000"
	b.signUp(t, "ada@example.com")
	require.Equal(t, http.StatusOK, b.loginFrom(t, home, "ada@example.com", password).status)

	for i := range smallThrottle.AccountWide {
		res := b.loginFrom(t, "203.0.113."+strconv.Itoa(100+i)+":4000", "ada@example.com", "a guess")
		requireProblem(t, res, http.StatusUnauthorized, "incorrect")
	}
	requireThrottled(t, b.loginFrom(t, "203.0.113.200:4000", "ada@example.com", password), time.Minute)
	requireThrottled(t, b.loginFrom(t, "192.0.2.77:1", "ada@example.com", password), time.Minute)
	require.Equal(t, http.StatusOK, b.loginFrom(t, home, "ada@example.com", password).status, "from home, a known client")

	// Unknown accounts answer alike.
	for i := range smallThrottle.AccountWide {
		res := b.loginFrom(t, "203.0.113."+strconv.Itoa(100+i)+":4000", "nobody@example.com", "a guess")
		requireProblem(t, res, http.StatusUnauthorized, "incorrect")
	}
	requireThrottled(t, b.loginFrom(t, "203.0.113.200:4000", "nobody@example.com", password), time.Minute)

	require.Equal(t, http.StatusAccepted, b.requestReset(t, "ada@example.com").status)
	res := b.confirmReset(t, b.mail.lastReset(t, "ada@example.com"), "a brand new passphrase")
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	res = b.loginFrom(t, "192.0.2.77:1", "ada@example.com", "a brand new passphrase")
	require.Equal(t, http.StatusOK, res.status, "the reset cleared the account's counts: %s", res.body)
	requireProblem(t, b.loginFrom(t, "203.0.113.200:4000", "ada@example.com", password), http.StatusUnauthorized, "incorrect")
}

// Guesses made at once are all counted before any password is checked, so
// no more than the limit get checked.
func TestLoginThrottleCountsGuessesMadeAtOnce(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{throttle: smallThrottle})
	var wg sync.WaitGroup
	codes := make([]domain.Code, 12)
	for i := range codes {
		wg.Go(func() {
			_, err := b.identity.Login(t.Context(), "owner@example.com", "a guess", "203.0.113.5")
			codes[i] = domain.ErrorCode(err)
		})
	}
	wg.Wait()
	checked := 0
	for _, code := range codes {
		require.Contains(t, []domain.Code{domain.EUNAUTHORIZED, domain.ETHROTTLED}, code)
		if code == domain.EUNAUTHORIZED {
			checked++
		}
	}
	require.LessOrEqual(t, checked, smallThrottle.PerAccount, "codes %v", codes)
	require.Positive(t, checked)
}

// Signing in counts toward no limit.
func TestSuccessfulLoginsCountNothing(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{throttle: smallThrottle})
	for i := range 20 {
		res := b.loginFrom(t, "203.0.113.9:1", "owner@example.com", password)
		require.Equal(t, http.StatusOK, res.status, "login %d: %s", i+1, res.body)
	}
	b.signUp(t, "ada@example.com")
	for i := range 20 {
		res := b.loginFrom(t, "198.51.100."+strconv.Itoa(i+1)+":1", "ada@example.com", password)
		require.Equal(t, http.StatusOK, res.status, "login %d: %s", i+1, res.body)
	}
	require.Equal(t, []string{"0"}, b.query(t, `SELECT coalesce(sum(hits), 0)::text FROM auth_throttle WHERE key LIKE 'login:%'`),
		"nothing counted")

	// A success also clears its address's failures at the account.
	for range smallThrottle.PerAccount - 1 {
		requireProblem(t, b.loginFrom(t, "203.0.113.9:1", "ada@example.com", "a guess"), http.StatusUnauthorized, "incorrect")
	}
	require.Equal(t, http.StatusOK, b.loginFrom(t, "203.0.113.9:1", "ada@example.com", password).status)
	for range smallThrottle.PerAccount {
		requireProblem(t, b.loginFrom(t, "203.0.113.9:1", "ada@example.com", "a guess"), http.StatusUnauthorized, "incorrect")
	}
	requireThrottled(t, b.loginFrom(t, "203.0.113.9:1", "ada@example.com", password), time.Minute)
}

func TestLoginRehashesWhenParametersChange(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	stronger := auth.DefaultParams
	stronger.Iterations = 3
	h, err := auth.NewHasher(stronger)
	require.NoError(t, err)
	upgraded, err := postgres.NewIdentity(b.tenants, postgres.IdentityOptions{Hasher: h, Mail: b.mail})
	require.NoError(t, err)

	_, err = upgraded.Login(t.Context(), "owner@example.com", password, "192.0.2.1")
	require.NoError(t, err)
	hashes := b.query(t, `SELECT password_hash FROM users`)
	params, err := auth.DecodeParams(hashes[0])
	require.NoError(t, err)
	require.Equal(t, stronger, params, "the hash was remade with the new parameters")
	_, err = upgraded.Login(t.Context(), "owner@example.com", password, "192.0.2.1")
	require.NoError(t, err, "and still verifies")
	_, err = upgraded.Login(t.Context(), "owner@example.com", "wrong password", "192.0.2.1")
	require.Equal(t, domain.EUNAUTHORIZED, domain.ErrorCode(err))
}

func TestTenantsAreTheCallersOwn(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	other := b.signUpAndLogin(t, "other@example.com")
	b.createTenant(t, "acme")
	res := b.callAs(t, other, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "globex", "name": "Globex"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))

	for token, want := range map[string][]string{b.token: {"acme"}, other: {"globex"}} {
		res := b.callAs(t, token, http.MethodGet, "/v1/tenants", "", "", nil)
		require.Equal(t, http.StatusOK, res.status)
		slugs := make([]string, 0, len(want))
		for _, tn := range decode[pageJSON[tenantJSON]](t, res).Items {
			slugs = append(slugs, tn.Slug)
		}
		require.Equal(t, want, slugs)
	}
	requireProblem(t, b.callAs(t, "", http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "initech", "name": "I"}), http.StatusUnauthorized, "Bearer")
	key := b.createAPIKey(t, b.token, "acme", domain.RoleAdmin)
	requireProblem(t, b.callAs(t, key.Key, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "initech", "name": "I"}),
		http.StatusUnauthorized, "API keys work on tenant-scoped operations only")
	require.Equal(t, []string{"acme", "globex"}, b.query(t, `SELECT slug FROM tenants ORDER BY slug`))
}

func TestMembersAndTheLastOwner(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	admin := b.join(t, b.token, "acme", "admin@example.com", domain.RoleAdmin)
	viewer := b.join(t, b.token, "acme", "viewer@example.com", domain.RoleViewer)
	outsider := b.signUpAndLogin(t, "outsider@example.com")

	ms := b.members(t, viewer, "acme")
	require.Len(t, ms, 3)
	require.Equal(t, domain.RoleOwner, ms["owner@example.com"].Role)
	require.Equal(t, "User viewer@example.com", ms["viewer@example.com"].Name)
	require.Len(t, ms["viewer@example.com"].UserID, 36)
	patch := func(token, email, role string) response {
		return b.callAs(t, token, http.MethodPatch, "/v1/members/"+ms[email].ID, "", "acme", map[string]string{"role": role})
	}
	remove := func(token, email string) response {
		return b.callAs(t, token, http.MethodDelete, "/v1/members/"+ms[email].ID, "", "acme", nil)
	}

	res := patch(admin, "viewer@example.com", domain.RoleMember)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, domain.RoleMember, decode[memberJSON](t, res).Role)
	requireProblem(t, patch(admin, "viewer@example.com", domain.RoleOwner), http.StatusForbidden, "does not hold")
	requireProblem(t, patch(admin, "owner@example.com", domain.RoleViewer), http.StatusForbidden, "with role owner")
	requireProblem(t, remove(admin, "owner@example.com"), http.StatusForbidden, "with role owner")
	requireProblem(t, patch(viewer, "admin@example.com", domain.RoleViewer), http.StatusForbidden, "does not allow members:write")
	requireProblem(t, patch(outsider, "admin@example.com", domain.RoleViewer), http.StatusNotFound, `no tenant "acme"`)
	requireProblem(t, patch(b.token, "owner@example.com", domain.RoleAdmin), http.StatusConflict, "last owner")
	requireProblem(t, remove(b.token, "owner@example.com"), http.StatusConflict, "last owner")
	requireProblem(t, patch(b.token, "owner@example.com", "no-such-role"), http.StatusUnprocessableEntity, `no role "no-such-role"`)
	res = b.callAs(t, b.token, http.MethodPatch, "/v1/members/00000000-0000-0000-0000-000000000000", "", "acme", map[string]string{"role": "viewer"})
	requireProblem(t, res, http.StatusNotFound, "No member")

	// Two owners demoting each other at once leave one owner.
	require.Equal(t, http.StatusOK, patch(b.token, "admin@example.com", domain.RoleOwner).status)
	var wg sync.WaitGroup
	results := make([]int, 2)
	demotions := []struct{ by, of string }{
		{by: b.token, of: "admin@example.com"},
		{by: admin, of: "owner@example.com"},
	}
	for i, d := range demotions {
		wg.Go(func() { results[i] = patch(d.by, d.of, domain.RoleMember).status })
	}
	wg.Wait()
	slices.Sort(results)
	require.Equal(t, http.StatusOK, results[0], "one demotion wins: %v", results)
	require.Contains(t, []int{http.StatusForbidden, http.StatusConflict}, results[1],
		"the other is refused, as the last owner's or as a demoted caller's: %v", results)
	owners := 0
	for _, m := range b.members(t, viewer, "acme") {
		if m.Role == domain.RoleOwner {
			owners++
		}
	}
	require.Equal(t, 1, owners)

	// A removed member loses access at once, with their keys.
	owner := ownerOf(t, b, b.members(t, viewer, "acme"))
	memberToken := b.join(t, owner, "acme", "leaver@example.com", domain.RoleAdmin)
	key := b.createAPIKey(t, memberToken, "acme", domain.RoleViewer)
	ms = b.members(t, viewer, "acme")
	res = b.callAs(t, owner, http.MethodDelete, "/v1/members/"+ms["leaver@example.com"].ID, "", "acme", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	requireProblem(t, b.callAs(t, memberToken, http.MethodGet, "/v1/projects", "", "acme", nil), http.StatusNotFound, "no tenant")
	requireProblem(t, b.callAs(t, key.Key, http.MethodGet, "/v1/projects", "", "acme", nil), http.StatusUnauthorized, "revoked")
}

// ownerOf returns the token of whichever of the test's two first users
// still owns the tenant.
func ownerOf(t *testing.T, b *apiBundle, ms map[string]memberJSON) string {
	t.Helper()
	if ms["owner@example.com"].Role == domain.RoleOwner {
		return b.token
	}
	return b.login(t, "admin@example.com")
}

func TestInvitations(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	grace := b.signUpAndLogin(t, "grace@example.com")
	mallory := b.signUpAndLogin(t, "mallory@example.com")

	res := b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "Grace@Example.com", "role": domain.RoleMember})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	require.NotContains(t, string(res.body), "inv_", "the token goes by email only")
	type invitationJSON struct {
		ID        string    `json:"id"`
		Email     string    `json:"email"`
		Role      string    `json:"role"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	inv := decode[invitationJSON](t, res)
	require.Equal(t, "grace@example.com", inv.Email)
	require.WithinDuration(t, time.Now().Add(postgres.DefaultInvitationTTL), inv.ExpiresAt, time.Minute)
	token := b.mail.lastInvitation(t, "grace@example.com")
	queued := b.mail.about("grace@example.com", "invited")[0]
	require.Contains(t, queued.Subject, "Tenant acme")
	require.Equal(t, "acme", queued.tenant.Slug, "the email job carries the tenant")
	require.Equal(t, "invitation:"+inv.ID, queued.key, "keyed by the invitation: one email per invitation")

	accept := func(who, token string) response {
		return b.callAs(t, who, http.MethodPost, "/v1/invitations/accept", "", "", map[string]string{"token": token})
	}
	requireProblem(t, accept(mallory, token), http.StatusNotFound, "for another email address") // the invitation is for grace only
	res = accept(grace, token)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.JSONEq(t, `{"tenant":{"id":"`+decode[meJSON](t, b.callAs(t, grace, http.MethodGet, "/v1/me", "", "", nil)).Memberships[0].Tenant.ID+
		`","slug":"acme","name":"Tenant acme"},"role":"member"}`, string(res.body))
	requireProblem(t, accept(grace, token), http.StatusNotFound, "already used")
	require.Equal(t, domain.RoleMember, b.members(t, grace, "acme")["grace@example.com"].Role)

	// Expired.
	b.invite(t, b.token, "acme", "mallory@example.com", domain.RoleViewer)
	b.exec(t, `UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = 'mallory@example.com'`)
	requireProblem(t, accept(mallory, b.mail.lastInvitation(t, "mallory@example.com")), http.StatusNotFound, "expired")

	// Never above the inviter's role, nor by someone who may not invite.
	admin := b.join(t, b.token, "acme", "admin@example.com", domain.RoleAdmin)
	res = b.callAs(t, admin, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "x@example.com", "role": domain.RoleOwner})
	requireProblem(t, res, http.StatusForbidden, "does not hold")
	res = b.callAs(t, grace, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "x@example.com", "role": domain.RoleViewer})
	requireProblem(t, res, http.StatusForbidden, "does not allow invitations:write")
	res = b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "x@example.com", "role": "emperor"})
	requireProblem(t, res, http.StatusUnprocessableEntity, `no role "emperor"`)

	// An invitation is worth no more than its sender is when it is accepted.
	b.invite(t, admin, "acme", "mallory@example.com", domain.RoleAdmin)
	pending := b.mail.lastInvitation(t, "mallory@example.com")
	ms := b.members(t, admin, "acme")
	require.Equal(t, http.StatusOK, b.call(t, http.MethodPatch, "/v1/members/"+ms["admin@example.com"].ID, "", "acme", map[string]string{"role": domain.RoleViewer}).status)
	requireProblem(t, accept(mallory, pending), http.StatusNotFound, "does not exist")

	// An email that cannot be queued keeps no invitation.
	b.mail.setDown(true)
	res = b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "late@example.com", "role": domain.RoleViewer})
	requireProblem(t, res, http.StatusServiceUnavailable, "could not be queued")
	require.Equal(t, []string{"0"}, b.query(t, `SELECT count(*)::text FROM invitations WHERE email = 'late@example.com'`))
}

// pendingInvitationJSON is an item of GET /v1/invitations.
type pendingInvitationJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	InvitedBy string    `json:"invited_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// pendingInvitations returns every page of acme's pending invitations,
// limit a page, with every raw page body.
func (b *apiBundle) pendingInvitations(t *testing.T, token string, limit int) ([]pendingInvitationJSON, []string) {
	t.Helper()
	var items []pendingInvitationJSON
	var bodies []string
	cursor := ""
	for range 20 {
		res := b.callAs(t, token, http.MethodGet, "/v1/invitations?limit="+strconv.Itoa(limit)+"&cursor="+cursor, "", "acme", nil)
		require.Equal(t, http.StatusOK, res.status, string(res.body))
		bodies = append(bodies, string(res.body))
		p := decode[pageJSON[pendingInvitationJSON]](t, res)
		require.LessOrEqual(t, len(p.Items), limit)
		items = append(items, p.Items...)
		if cursor = p.NextCursor; cursor == "" {
			return items, bodies
		}
	}
	t.Fatal("the invitations never reach their last page")
	return nil, nil
}

// tenantAudit returns the tenant's audit entries with action, newest first.
func (b *apiBundle) tenantAudit(t *testing.T, tenant, action string) []auditEventJSON {
	t.Helper()
	res := b.call(t, http.MethodGet, "/v1/audit-events?action="+action, "", tenant, nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	return decode[pageJSON[auditEventJSON]](t, res).Items
}

// Pending invitations are listed, without their tokens, and revoked by
// whoever could have sent them; a revoked token is as dead as any other.
func TestListAndRevokeInvitations(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	ownerID := decode[meJSON](t, b.call(t, http.MethodGet, "/v1/me", "", "", nil)).ID
	for _, name := range []string{"p1", "p2", "p3", "expired", "revoked"} {
		b.invite(t, b.token, "acme", name+"@example.com", domain.RoleViewer)
	}
	b.join(t, b.token, "acme", "used@example.com", domain.RoleViewer)
	b.exec(t, `UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = 'expired@example.com'`)
	idOf := func(email string) string {
		return b.query(t, `SELECT id::text FROM invitations WHERE email = $1`, email)[0]
	}
	revokedToken, revokedID := b.mail.lastInvitation(t, "revoked@example.com"), idOf("revoked@example.com")
	res := b.call(t, http.MethodDelete, "/v1/invitations/"+revokedID, "", "acme", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))

	// Pending only, in the order they were sent, two a page, no token.
	items, bodies := b.pendingInvitations(t, b.token, 2)
	require.Len(t, bodies, 2)
	emails := make([]string, len(items))
	for i, inv := range items {
		emails[i] = inv.Email
		require.Equal(t, domain.RoleViewer, inv.Role)
		require.Equal(t, ownerID, inv.InvitedBy)
		require.Equal(t, idOf(inv.Email), inv.ID)
		require.WithinDuration(t, inv.CreatedAt.Add(postgres.DefaultInvitationTTL), inv.ExpiresAt, time.Minute)
	}
	require.Equal(t, []string{"p1@example.com", "p2@example.com", "p3@example.com"}, emails)
	for _, body := range bodies {
		require.NotContains(t, body, "inv_", "never a token")
		require.NotContains(t, body, "token", "never a token or its hash")
	}

	// A revoked token is dead; so is the id, as are used and expired ones.
	revokedUser := b.signUpAndLogin(t, "revoked@example.com")
	res = b.callAs(t, revokedUser, http.MethodPost, "/v1/invitations/accept", "", "", map[string]string{"token": revokedToken})
	requireProblem(t, res, http.StatusNotFound, "This invitation does not exist")
	for _, id := range []string{revokedID, idOf("used@example.com"), idOf("expired@example.com")} {
		requireProblem(t, b.call(t, http.MethodDelete, "/v1/invitations/"+id, "", "acme", nil), http.StatusNotFound, "No invitation")
	}
	requireProblem(t, b.call(t, http.MethodDelete, "/v1/invitations/not-a-uuid", "", "acme", nil), http.StatusNotFound, "No invitation")
	revoked := b.tenantAudit(t, "acme", "invitation.revoke")
	require.Len(t, revoked, 1)
	require.Equal(t, "invitation", revoked[0].TargetType)

	// Another tenant's invitation is not found from this one, nor listed.
	globex := b.signUpAndLogin(t, "globex@example.com")
	res = b.callAs(t, globex, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "globex", "name": "Globex"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	b.invite(t, globex, "globex", "theirs@example.com", domain.RoleViewer)
	theirs := idOf("theirs@example.com")
	requireProblem(t, b.call(t, http.MethodDelete, "/v1/invitations/"+theirs, "", "acme", nil), http.StatusNotFound, "No invitation")
	items, _ = b.pendingInvitations(t, b.token, 100)
	require.Len(t, items, 3)
	require.Equal(t, []string{"1"}, b.query(t, `SELECT count(*)::text FROM invitations WHERE id = $1`, theirs))

	// Reading and revoking need their permissions, and revoking an
	// invitation to a role needs every permission of the role.
	member := b.join(t, b.token, "acme", "member@example.com", domain.RoleMember)
	requireProblem(t, b.callAs(t, member, http.MethodGet, "/v1/invitations", "", "acme", nil), http.StatusForbidden, "does not allow invitations:read")
	requireProblem(t, b.callAs(t, member, http.MethodDelete, "/v1/invitations/"+idOf("p1@example.com"), "", "acme", nil), http.StatusForbidden, "does not allow invitations:write")
	admin := b.join(t, b.token, "acme", "admin@example.com", domain.RoleAdmin)
	b.invite(t, b.token, "acme", "co-owner@example.com", domain.RoleOwner)
	items, _ = b.pendingInvitations(t, admin, 100)
	require.Len(t, items, 4, "an admin sees every pending invitation")
	requireProblem(t, b.callAs(t, admin, http.MethodDelete, "/v1/invitations/"+idOf("co-owner@example.com"), "", "acme", nil), http.StatusForbidden, "does not hold")
	res = b.callAs(t, admin, http.MethodDelete, "/v1/invitations/"+idOf("p1@example.com"), "", "acme", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	res = b.call(t, http.MethodDelete, "/v1/invitations/"+idOf("co-owner@example.com"), "", "acme", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
}

// A custom role's permissions change for every holder on their next
// request, within the changer's own permissions; a role goes only once
// nobody holds it, with its grants; built-in roles never change.
func TestUpdateAndDeleteCustomRoles(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	admin := b.join(t, b.token, "acme", "admin@example.com", domain.RoleAdmin)
	member := b.join(t, b.token, "acme", "member@example.com", domain.RoleMember)
	res := b.callAs(t, admin, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "auditor", "permissions": []string{"projects:read", "members:read"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	auditor := b.join(t, admin, "acme", "auditor@example.com", "auditor")
	require.Equal(t, http.StatusOK, b.callAs(t, auditor, http.MethodGet, "/v1/members", "", "acme", nil).status)

	update := func(token, name string, perms ...string) response {
		return b.callAs(t, token, http.MethodPatch, "/v1/roles/"+name, "", "acme", map[string]any{"permissions": perms})
	}
	remove := func(token, name string) response {
		return b.callAs(t, token, http.MethodDelete, "/v1/roles/"+name, "", "acme", nil)
	}
	res = update(admin, "auditor", "projects:read", "projects:read")
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.JSONEq(t, `{"name":"auditor","permissions":["projects:read"],"builtin":false}`, string(res.body))
	requireProblem(t, b.callAs(t, auditor, http.MethodGet, "/v1/members", "", "acme", nil), http.StatusForbidden, `Role "auditor" does not allow members:read`)
	require.Equal(t, http.StatusOK, b.callAs(t, auditor, http.MethodGet, "/v1/projects", "", "acme", nil).status)
	updated := b.tenantAudit(t, "acme", "role.update")
	require.Len(t, updated, 1)
	require.Equal(t, "role", updated[0].TargetType)

	// No escalation: not to permissions the caller lacks, nor of a role
	// holding some.
	requireProblem(t, update(admin, "auditor", "projects:read", "owners:write"), http.StatusForbidden, "does not hold")
	res = b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "keeper", "permissions": []string{"owners:write"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	requireProblem(t, update(admin, "keeper", "projects:read"), http.StatusForbidden, "does not hold")
	requireProblem(t, remove(admin, "keeper"), http.StatusForbidden, "does not hold")
	requireProblem(t, update(member, "auditor", "projects:read"), http.StatusForbidden, "does not allow roles:write")
	requireProblem(t, remove(member, "auditor"), http.StatusForbidden, "does not allow roles:write")
	requireProblem(t, update(admin, "auditor", "no_such_resource:read"), http.StatusUnprocessableEntity, "not a permission")
	for _, name := range domain.BuiltinRoles() {
		requireProblem(t, update(b.token, name, "projects:read"), http.StatusConflict, "Built-in role")
		requireProblem(t, remove(b.token, name), http.StatusConflict, "Built-in role")
	}
	requireProblem(t, update(admin, "emperor", "projects:read"), http.StatusNotFound, `No role "emperor"`)
	requireProblem(t, remove(admin, "emperor"), http.StatusNotFound, `No role "emperor"`)

	// Held by a member, an API key and a pending invitation: refused, saying
	// how many and what to do.
	key := b.createAPIKey(t, admin, "acme", "auditor")
	b.invite(t, admin, "acme", "later@example.com", "auditor")
	project := b.createProject(t, "acme")
	res = b.callAs(t, admin, http.MethodPost, "/v1/grants", "", "acme", map[string]string{"permission": "projects:read", "object_id": project.ID, "role": "auditor"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	res = remove(admin, "auditor")
	requireProblem(t, res, http.StatusConflict, "1 member, 1 API key, 1 pending invitation")
	require.Contains(t, string(res.body), "give those members another role, revoke those API keys, revoke those invitations first")

	ms := b.members(t, admin, "acme")
	res = b.callAs(t, admin, http.MethodPatch, "/v1/members/"+ms["auditor@example.com"].ID, "", "acme", map[string]string{"role": domain.RoleViewer})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	requireProblem(t, remove(admin, "auditor"), http.StatusConflict, "still held by 1 API key, 1 pending invitation:")
	require.Equal(t, http.StatusNoContent, b.callAs(t, admin, http.MethodDelete, "/v1/api-keys/"+key.ID, "", "acme", nil).status)
	pending, _ := b.pendingInvitations(t, admin, 100)
	require.Len(t, pending, 1)
	require.Equal(t, http.StatusNoContent, b.callAs(t, admin, http.MethodDelete, "/v1/invitations/"+pending[0].ID, "", "acme", nil).status)

	res = remove(admin, "auditor")
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	require.Equal(t, []string{"0"}, b.query(t, `SELECT count(*)::text FROM object_grants WHERE role = 'auditor'`), "the role's grants go with it")
	require.Len(t, b.tenantAudit(t, "acme", "role.delete"), 1)
	res = b.callAs(t, admin, http.MethodGet, "/v1/roles", "", "acme", nil)
	require.NotContains(t, string(res.body), "auditor")
	requireProblem(t, remove(admin, "auditor"), http.StatusNotFound, `No role "auditor"`)
	requireProblem(t, update(admin, "auditor", "projects:read"), http.StatusNotFound, `No role "auditor"`)
	res = b.callAs(t, admin, http.MethodPost, "/v1/api-keys", "", "acme", map[string]string{"name": "late", "role": "auditor"})
	requireProblem(t, res, http.StatusUnprocessableEntity, `no role "auditor"`)
}

func TestCustomRoles(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	admin := b.join(t, b.token, "acme", "admin@example.com", domain.RoleAdmin)
	viewer := b.join(t, b.token, "acme", "viewer@example.com", domain.RoleViewer)

	create := func(token, name string, perms ...string) response {
		return b.callAs(t, token, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": name, "permissions": perms})
	}
	res := create(admin, "auditor", "projects:read", "members:read", "projects:read")
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	require.JSONEq(t, `{"name":"auditor","permissions":["members:read","projects:read"],"builtin":false}`, string(res.body))
	requireProblem(t, create(admin, "auditor", "projects:read"), http.StatusConflict, "exists")
	requireProblem(t, create(admin, "co-owner", "owners:write"), http.StatusForbidden, "does not hold")
	requireProblem(t, create(admin, "billing", "no_such_resource:read"), http.StatusUnprocessableEntity, "not a permission")
	requireProblem(t, create(admin, "admin", "projects:read"), http.StatusUnprocessableEntity, "built-in")
	requireProblem(t, create(viewer, "reader", "projects:read"), http.StatusForbidden, "does not allow roles:write")

	res = b.callAs(t, viewer, http.MethodGet, "/v1/roles", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	type roleJSON struct {
		Name        string   `json:"name"`
		Permissions []string `json:"permissions"`
		Builtin     bool     `json:"builtin"`
	}
	roles := map[string]roleJSON{}
	for _, r := range decode[pageJSON[roleJSON]](t, res).Items {
		roles[r.Name] = r
	}
	require.Len(t, roles, 5)
	require.True(t, roles["owner"].Builtin)
	require.Contains(t, roles["owner"].Permissions, "owners:write")
	require.NotContains(t, roles["admin"].Permissions, "owners:write")
	viewerHolds := []string{"members:read", "roles:read", "projects:read", "customers:read", "invoices:read"}
	slices.Sort(viewerHolds)
	require.Equal(t, viewerHolds, roles["viewer"].Permissions)
	res = b.callAs(t, viewer, http.MethodGet, "/v1/roles?limit=2", "", "acme", nil)
	page := decode[pageJSON[roleJSON]](t, res)
	require.Equal(t, []string{"admin", "auditor"}, []string{page.Items[0].Name, page.Items[1].Name})
	res = b.callAs(t, viewer, http.MethodGet, "/v1/roles?limit=2&cursor="+page.NextCursor, "", "acme", nil)
	require.Equal(t, "member", decode[pageJSON[roleJSON]](t, res).Items[0].Name)

	// A member with the custom role may do what it holds and nothing else.
	auditor := b.join(t, admin, "acme", "auditor@example.com", "auditor")
	require.Equal(t, http.StatusOK, b.callAs(t, auditor, http.MethodGet, "/v1/projects", "", "acme", nil).status)
	requireProblem(t, b.callAs(t, auditor, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": "x"}), http.StatusForbidden, `Role "auditor" does not allow projects:write`)
}
