package httpapi_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres"
)

var (
	resetLink        = regexp.MustCompile(`https?://\S+/password-reset#token=(pwr_[A-Z2-7]{26})`)
	verificationLink = regexp.MustCompile(`https://app\.example\.com/verify-email#token=(ver_[A-Z2-7]{26})`)
)

// about returns the messages queued for addr so far whose subject contains
// subject.
func (m *mailbox) about(addr, subject string) []queuedMail {
	var out []queuedMail
	mails := m.to(addr)
	for i := range mails {
		if strings.Contains(mails[i].Subject, subject) {
			out = append(out, mails[i])
		}
	}
	return out
}

// lastReset returns the token of the last password reset link mailed to addr.
func (m *mailbox) lastReset(t *testing.T, addr string) string {
	t.Helper()
	mails := m.to(addr)
	require.NotEmpty(t, mails, "no mail to %s", addr)
	match := resetLink.FindStringSubmatch(mails[len(mails)-1].Text)
	require.NotNil(t, match, "no reset link in %q", mails[len(mails)-1].Text)
	return match[1]
}

func (b *apiBundle) requestReset(t *testing.T, email string) response {
	t.Helper()
	return b.callAs(t, "", http.MethodPost, "/v1/auth/password-reset", "", "", map[string]string{"email": email})
}

func (b *apiBundle) confirmReset(t *testing.T, token, newPassword string) response {
	t.Helper()
	return b.callAs(t, "", http.MethodPost, "/v1/auth/password-reset/confirm", "", "", map[string]string{"token": token, "password": newPassword})
}

func (b *apiBundle) changePassword(t *testing.T, token, current, next string) response {
	t.Helper()
	return b.callAs(t, token, http.MethodPost, "/v1/auth/password", "", "", map[string]string{"current_password": current, "new_password": next})
}

func (b *apiBundle) loginWith(t *testing.T, email, pw string) response {
	t.Helper()
	return b.callAs(t, "", http.MethodPost, "/v1/auth/login", "", "", map[string]string{"email": email, "password": pw})
}

// auditActions returns the actions of the control-plane entries about userID.
func (b *apiBundle) auditActions(t *testing.T, userID string) []postgres.AuditRecord {
	t.Helper()
	var out []postgres.AuditRecord
	err := postgres.NewAuditLog(b.tenants).ExportUnattributed(t.Context(), time.Time{}, func(r postgres.AuditRecord) error {
		if r.TargetType == "user" && r.TargetID == userID && strings.HasPrefix(r.Action, "user.password") {
			out = append(out, r)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestInvitationMailLinksToTheApp(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{appURL: "https://app.example.com/console/"})
	b.createTenant(t, "acme")
	b.invite(t, b.token, "acme", "grace@example.com", domain.RoleMember)

	mails := b.mail.to("grace@example.com")
	require.Len(t, mails, 1)
	token := b.mail.lastInvitation(t, "grace@example.com")
	require.Contains(t, mails[0].Text, "https://app.example.com/console/invitations/accept#token="+token,
		"a link to the front end, the token in the fragment so it reaches no server log")
	require.NotContains(t, mails[0].Text, "/v1/", "no API instructions in the mail")
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{throttle: postgres.ThrottleLimits{Window: time.Minute, PerAccount: 3, PerAddress: 1000}})
	other := b.login(t, "owner@example.com")
	require.Equal(t, http.StatusAccepted, b.requestReset(t, "owner@example.com").status)
	reset := b.mail.lastReset(t, "owner@example.com")
	b.createTenant(t, "acme")
	key := b.createAPIKey(t, b.token, "acme", domain.RoleOwner)
	const next = "a brand new passphrase"

	requireProblem(t, b.changePassword(t, key.Key, password, next), http.StatusUnauthorized, "")
	requireProblem(t, b.changePassword(t, "", password, next), http.StatusUnauthorized, "")
	res := b.changePassword(t, b.token, password, "short")
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "the sign-up rules: %s", res.body)
	requireProblem(t, b.changePassword(t, b.token, "not the password", next), http.StatusUnprocessableEntity, "The current password is incorrect.")

	res = b.changePassword(t, b.token, password, next)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	require.Empty(t, res.body)

	require.Equal(t, http.StatusOK, b.call(t, http.MethodGet, "/v1/me", "", "", nil).status, "the session that changed it stays")
	requireProblem(t, b.callAs(t, other, http.MethodGet, "/v1/me", "", "", nil), http.StatusUnauthorized, "")
	requireProblem(t, b.loginWith(t, "owner@example.com", password), http.StatusUnauthorized, "incorrect")
	require.Equal(t, http.StatusOK, b.loginWith(t, "owner@example.com", next).status)
	requireProblem(t, b.confirmReset(t, reset, "yet another passphrase"), http.StatusNotFound, "invalid")

	// The current password is counted like a login attempt: after 3
	// wrong ones even the right one is refused for the window.
	for range 3 {
		requireProblem(t, b.changePassword(t, b.token, "wrong", password), http.StatusUnprocessableEntity, "incorrect")
	}
	requireProblem(t, b.changePassword(t, b.token, next, password), http.StatusTooManyRequests, "Too many attempts")

	me := decode[meJSON](t, b.call(t, http.MethodGet, "/v1/me", "", "", nil))
	entries := b.auditActions(t, me.ID)
	require.NotEmpty(t, entries)
	last := entries[len(entries)-1]
	require.Equal(t, "user.password_change", last.Action)
	require.Equal(t, me.ID, last.UserID)
	for _, e := range entries {
		require.NotContains(t, string(e.Before)+string(e.After), "passphrase")
	}
	require.NotContains(t, b.logs.String(), "passphrase", "no password in the log")
}

func TestPasswordResetDoesNotTellWhoHasAnAccount(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)

	known := b.requestReset(t, "Owner@Example.com")
	unknown := b.requestReset(t, "nobody@example.com")
	require.Equal(t, http.StatusAccepted, known.status, string(known.body))
	require.Equal(t, known.status, unknown.status)
	require.Equal(t, known.body, unknown.body)
	require.Empty(t, known.body)
	require.Equal(t, known.header.Get("Content-Type"), unknown.header.Get("Content-Type"))
	require.Equal(t, known.header.Get("Content-Length"), unknown.header.Get("Content-Length"))

	require.Len(t, b.mail.about("owner@example.com", "Reset"), 1, "the owner of the account gets a link")
	require.Empty(t, b.mail.to("nobody@example.com"), "nobody else gets mail")
	require.Empty(t, b.query(t, `SELECT t::text FROM account_tokens t JOIN users u ON u.id = t.user_id WHERE u.email = 'nobody@example.com'`))

	// Not even when the mail cannot be queued.
	b.mail.setDown(true)
	known = b.requestReset(t, "owner@example.com")
	require.Equal(t, unknown.status, known.status, string(known.body))
	require.Equal(t, unknown.body, known.body)
	require.Contains(t, b.logs.String(), "could not queue a password reset link")
	b.mail.setDown(false)
	require.Len(t, b.mail.about("owner@example.com", "Reset"), 1, "nothing was queued")
}

func TestPasswordResetIsSingleUseAndExpires(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{appURL: "https://app.example.com"})
	other := b.login(t, "owner@example.com")

	require.Equal(t, http.StatusAccepted, b.requestReset(t, "owner@example.com").status)
	first := b.mail.lastReset(t, "owner@example.com")
	require.Equal(t, http.StatusAccepted, b.requestReset(t, "owner@example.com").status)
	second := b.mail.lastReset(t, "owner@example.com")
	require.NotEqual(t, first, second)
	require.Contains(t, b.mail.about("owner@example.com", "Reset")[1].Text, "https://app.example.com/password-reset#token="+second)

	unknownAnswer := b.confirmReset(t, "pwr_AAAAAAAAAAAAAAAAAAAAAAAAAA", "a brand new passphrase")
	requireProblem(t, unknownAnswer, http.StatusNotFound, "invalid")
	same := func(res response) {
		t.Helper()
		require.Equal(t, unknownAnswer.status, res.status, string(res.body))
		require.Equal(t, decode[problemJSON](t, unknownAnswer), decode[problemJSON](t, res), "one answer whatever is wrong with the token")
	}
	same(b.confirmReset(t, first, "a brand new passphrase")) // superseded
	res := b.confirmReset(t, second, "short")
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "the sign-up rules: %s", res.body)

	res = b.confirmReset(t, second, "a brand new passphrase")
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	same(b.confirmReset(t, second, "another passphrase")) // used
	requireProblem(t, b.call(t, http.MethodGet, "/v1/me", "", "", nil), http.StatusUnauthorized, "")
	requireProblem(t, b.callAs(t, other, http.MethodGet, "/v1/me", "", "", nil), http.StatusUnauthorized, "")
	requireProblem(t, b.loginWith(t, "owner@example.com", password), http.StatusUnauthorized, "incorrect")
	require.Equal(t, http.StatusOK, b.loginWith(t, "owner@example.com", "a brand new passphrase").status)

	// Expired.
	require.Equal(t, http.StatusAccepted, b.requestReset(t, "owner@example.com").status)
	expired := b.mail.lastReset(t, "owner@example.com")
	b.exec(t, `UPDATE account_tokens SET expires_at = now() - interval '1 second'`)
	same(b.confirmReset(t, expired, "the third passphrase"))
	require.Equal(t, http.StatusOK, b.loginWith(t, "owner@example.com", "a brand new passphrase").status)

	// Stored hashed; neither token nor password logged or audited.
	require.Equal(t, http.StatusAccepted, b.requestReset(t, "owner@example.com").status)
	live := b.mail.lastReset(t, "owner@example.com")
	var stored strings.Builder
	for _, table := range []string{"account_tokens", "users", "sessions"} {
		for _, row := range b.query(t, `SELECT t::text FROM `+table+` t`) {
			stored.WriteString(row + "\n")
		}
	}
	var audited strings.Builder
	session := decode[loginJSON](t, b.loginWith(t, "owner@example.com", "a brand new passphrase")).Token
	me := decode[meJSON](t, b.callAs(t, session, http.MethodGet, "/v1/me", "", "", nil))
	entries := b.auditActions(t, me.ID)
	actions := make([]string, 0, len(entries))
	for _, e := range entries {
		actions = append(actions, e.Action)
		audited.WriteString(string(e.Before) + string(e.After) + "\n")
	}
	require.Equal(t, []string{
		"user.password_reset_request", "user.password_reset_request", "user.password_reset",
		"user.password_reset_request", "user.password_reset_request",
	}, actions)
	for _, secret := range []string{first, second, expired, live, "passphrase"} {
		require.NotContains(t, stored.String(), secret)
		require.NotContains(t, audited.String(), secret)
		require.NotContains(t, b.logs.String(), secret)
	}
}

func TestPasswordResetUnlocksAThrottledAccount(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{throttle: postgres.ThrottleLimits{Window: time.Minute, PerAccount: 3, PerAddress: 1000, AccountWide: 6}})
	b.signUp(t, "ada@example.com")
	// Locked from the address that guessed, and, guessed at from enough
	// addresses, from every address that never signed in.
	for range 3 {
		requireProblem(t, b.loginWith(t, "ada@example.com", "guess"), http.StatusUnauthorized, "incorrect")
	}
	requireProblem(t, b.loginWith(t, "ada@example.com", password), http.StatusTooManyRequests, "Too many attempts")
	for i := range 3 {
		requireProblem(t, b.loginFrom(t, "203.0.113."+strconv.Itoa(i+1)+":1", "ada@example.com", "guess"), http.StatusUnauthorized, "incorrect")
	}
	requireProblem(t, b.loginFrom(t, "198.51.100.1:1", "ada@example.com", password), http.StatusTooManyRequests, "Too many attempts")

	require.Equal(t, http.StatusAccepted, b.requestReset(t, "ada@example.com").status)
	res := b.confirmReset(t, b.mail.lastReset(t, "ada@example.com"), "a brand new passphrase")
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	login := b.loginWith(t, "ada@example.com", "a brand new passphrase")
	require.Equal(t, http.StatusOK, login.status, "the reset unlocked the account")
	require.Equal(t, http.StatusOK, b.loginFrom(t, "198.51.100.1:1", "ada@example.com", "a brand new passphrase").status,
		"from every address")
	me := decode[meJSON](t, b.callAs(t, decode[loginJSON](t, login).Token, http.MethodGet, "/v1/me", "", "", nil))
	require.True(t, me.EmailVerified, "the reset link reached the address: it is verified")
}

// A password change or reset forgets the account's known clients (but the
// one that changed it): who signed in with the old password no longer
// passes the account's limit.
func TestPasswordChangeAndResetForgetKnownClients(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{throttle: postgres.ThrottleLimits{Window: time.Minute, PerAccount: 3, PerAddress: 1000, AccountWide: 3}})
	guess := func(from int) {
		for i := range 3 {
			res := b.loginFrom(t, "198.51.100."+strconv.Itoa(from+i)+":1", "owner@example.com", "guess")
			requireProblem(t, res, http.StatusUnauthorized, "incorrect")
		}
	}
	const first, second = "203.0.113.50:1", "203.0.113.51:1"
	require.Equal(t, http.StatusOK, b.loginFrom(t, first, "owner@example.com", password).status)
	res := b.changePassword(t, b.token, password, "a brand new passphrase")
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	guess(1)
	requireProblem(t, b.loginFrom(t, first, "owner@example.com", "a brand new passphrase"), http.StatusTooManyRequests, "Too many attempts")
	require.Equal(t, http.StatusOK, b.loginWith(t, "owner@example.com", "a brand new passphrase").status,
		"the address that changed the password is known")

	require.Equal(t, http.StatusAccepted, b.requestReset(t, "owner@example.com").status)
	res = b.confirmReset(t, b.mail.lastReset(t, "owner@example.com"), "yet another passphrase")
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	require.Equal(t, http.StatusOK, b.loginFrom(t, second, "owner@example.com", "yet another passphrase").status)
	guess(10)
	requireProblem(t, b.loginWith(t, "owner@example.com", "yet another passphrase"), http.StatusTooManyRequests, "Too many attempts")
	require.Equal(t, http.StatusOK, b.loginFrom(t, second, "owner@example.com", "yet another passphrase").status)
}

func TestPasswordResetRequestsAreThrottled(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{throttle: postgres.ThrottleLimits{Window: time.Minute, PerAccount: 3, PerAddress: 8}})
	request := func(addr, email string) response {
		b.remoteAddr = addr
		defer func() { b.remoteAddr = "" }()
		return b.requestReset(t, email)
	}

	// Per address, known and unknown alike, whatever the client address.
	for _, email := range []string{"owner@example.com", "nobody@example.com"} {
		for i := range 3 {
			require.Equal(t, http.StatusAccepted, request("198.51.100."+strconv.Itoa(i+1)+":5000", email).status)
		}
		res := request("198.51.100.9:5000", email)
		requireProblem(t, res, http.StatusTooManyRequests, "Too many attempts")
		require.NotEmpty(t, res.header.Get("Retry-After"))
	}
	require.Len(t, b.mail.about("owner@example.com", "Reset"), 3, "no mail past the limit")

	// Per client address, across addresses.
	for i := range 8 {
		require.Equal(t, http.StatusAccepted, request("203.0.113.7:1234", "user"+strconv.Itoa(i)+"@example.com").status)
	}
	requireProblem(t, request("203.0.113.7:1234", "user9@example.com"), http.StatusTooManyRequests, "Too many attempts")
	require.Equal(t, http.StatusAccepted, request("203.0.113.8:1234", "user9@example.com").status)
}

// lastVerification returns the token of the last verification link mailed to addr.
func (m *mailbox) lastVerification(t *testing.T, addr string) string {
	t.Helper()
	mails := m.to(addr)
	require.NotEmpty(t, mails, "no mail to %s", addr)
	match := verificationLink.FindStringSubmatch(mails[len(mails)-1].Text)
	require.NotNil(t, match, "no verification link in %q", mails[len(mails)-1].Text)
	return match[1]
}

func TestEmailVerification(t *testing.T) {
	t.Parallel()
	b := setupAPIWith(t, bundleOptions{appURL: "https://app.example.com"}) // verification optional
	strict, err := postgres.NewIdentity(b.tenants, postgres.IdentityOptions{
		Hasher: testHasher(t), Mail: b.mail, AppURL: "https://app.example.com", RequireVerifiedEmail: true,
	})
	require.NoError(t, err)
	api := newAPIBundle(t, b.tenants, strict, b.logs) // verification required
	verify := func(token string) response {
		return api.callAs(t, "", http.MethodPost, "/v1/auth/verify", "", "", map[string]string{"token": token})
	}
	resend := func(email string) response {
		return api.callAs(t, "", http.MethodPost, "/v1/auth/verify/resend", "", "", map[string]string{"email": email})
	}
	me := func(token string) meJSON {
		res := api.callAs(t, token, http.MethodGet, "/v1/me", "", "", nil)
		require.Equal(t, http.StatusOK, res.status, string(res.body))
		return decode[meJSON](t, res)
	}

	// Sign-up mails a link; until it is opened, only the right password
	// learns that the address needs verifying.
	res := api.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": "ada@example.com", "password": password, "name": "Ada"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	first := b.mail.lastVerification(t, "ada@example.com")
	requireProblem(t, api.loginWith(t, "ada@example.com", "not the password"), http.StatusUnauthorized, "The email or password is incorrect.")
	requireProblem(t, api.loginWith(t, "ada@example.com", password), http.StatusForbidden, "Verify your email address first")

	// A session from before verification was required cannot accept an
	// invitation while the address is unverified.
	b.createTenant(t, "acme")
	b.invite(t, b.token, "acme", "ada@example.com", domain.RoleMember)
	invitation := b.mail.lastInvitation(t, "ada@example.com")
	ada := b.login(t, "ada@example.com") // where verification is optional
	require.False(t, me(ada).EmailVerified)
	requireProblem(t, api.callAs(t, ada, http.MethodPost, "/v1/invitations/accept", "", "", map[string]string{"token": invitation}),
		http.StatusForbidden, "Verify your email address first")

	// Asking for a new link: one answer for every address.
	answers := map[string]response{}
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		answers[email] = resend(email)
		require.Equal(t, http.StatusAccepted, answers[email].status, string(answers[email].body))
		require.Empty(t, answers[email].body)
	}
	require.Empty(t, b.mail.to("nobody@example.com"))
	second := b.mail.lastVerification(t, "ada@example.com")
	require.NotEqual(t, first, second)

	unknown := verify("ver_AAAAAAAAAAAAAAAAAAAAAAAAAA")
	requireProblem(t, unknown, http.StatusNotFound, "invalid")
	same := func(res response) {
		t.Helper()
		require.Equal(t, unknown.status, res.status, string(res.body))
		require.Equal(t, decode[problemJSON](t, unknown), decode[problemJSON](t, res))
	}
	same(verify(first)) // superseded
	require.Equal(t, http.StatusNoContent, verify(second).status)
	same(verify(second)) // used
	require.True(t, me(ada).EmailVerified)

	res = api.callAs(t, ada, http.MethodPost, "/v1/invitations/accept", "", "", map[string]string{"token": invitation})
	require.Less(t, res.status, 300, string(res.body))
	require.Equal(t, http.StatusOK, api.loginWith(t, "ada@example.com", password).status)
	sent := len(b.mail.to("ada@example.com"))
	require.Equal(t, http.StatusAccepted, resend("ada@example.com").status)
	require.Len(t, b.mail.to("ada@example.com"), sent, "a verified address gets no new link")

	// Expired.
	res = api.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": "grace@example.com", "password": password, "name": "Grace"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	expired := b.mail.lastVerification(t, "grace@example.com")
	b.exec(t, `UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE purpose = $1`, "email_verification")
	same(verify(expired))

	// Users an operator creates are verified.
	_, err = b.identity.CreateUser(t.Context(), "root@example.com", password, "Root", true)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, api.loginWith(t, "root@example.com", password).status)

	var entries []postgres.AuditRecord
	err = postgres.NewAuditLog(b.tenants).ExportUnattributed(t.Context(), time.Time{}, func(r postgres.AuditRecord) error {
		if r.Action == "user.email_verify" {
			entries = append(entries, r)
		}
		return nil
	})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, me(ada).ID, entries[0].TargetID)
	require.Equal(t, me(ada).ID, entries[0].UserID)
	for _, secret := range []string{first, second, expired} {
		require.NotContains(t, b.logs.String(), secret)
		require.Empty(t, b.query(t, `SELECT t::text FROM account_tokens t WHERE t::text LIKE $1`, "%"+secret+"%"))
	}
}
