// Package config loads the application's configuration from environment
// variables. Every variable is listed, with a comment, in .env.example.
package config

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MinSecretKeyLength is the shortest SECRET_KEY accepted.
const MinSecretKeyLength = 32

// MinMetricsTokenLength is the shortest METRICS_TOKEN accepted.
const MinMetricsTokenLength = 32

// DefaultHTTPAddr is HTTP_ADDR when unset.
const DefaultHTTPAddr = ":8080"

// DefaultTenantShards is TENANT_SHARDS unset: as many tenant shards as
// DATABASE_URL's pool may open connections (pool_max_conns).
const DefaultTenantShards = -1

// MaxTenantShards is the most TENANT_SHARDS may make.
const MaxTenantShards = 64

// DefaultAppURL is APP_URL when unset: a front end in local development.
const DefaultAppURL = "http://localhost:3000"

// DefaultWorkerConcurrency is WORKER_CONCURRENCY when unset.
const DefaultWorkerConcurrency = "default=10,email=5"

// Config is the application's configuration.
type Config struct {
	// Database says where the data lives.
	Database Database
	// HTTPAddr is the address the HTTP server listens on (HTTP_ADDR).
	HTTPAddr string
	// BaseDomain is the domain tenants get subdomains of (BASE_DOMAIN).
	BaseDomain string
	// SecretKey signs and encrypts application secrets (SECRET_KEY).
	SecretKey string
	// LogLevel is the minimum level logged (LOG_LEVEL).
	LogLevel slog.Level
	// SMTPURL is the mail server outgoing email goes through (SMTP_URL).
	SMTPURL string
	// MailFrom is the sender address of outgoing email (MAIL_FROM).
	MailFrom string
	// WorkerConcurrency maps each job queue the worker works to how many of
	// its jobs run at once (WORKER_CONCURRENCY).
	WorkerConcurrency map[string]int
	// WorkerMetricsAddr is where the worker serves /metrics and /healthz
	// (WORKER_METRICS_ADDR).
	WorkerMetricsAddr string
	// MetricsToken, when set, is the bearer token /metrics requires, on the
	// API and on the worker (METRICS_TOKEN).
	MetricsToken string
	// TrustedProxies are the reverse proxies and load balancers in front of
	// the server, whose X-Forwarded-For the server believes (TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// ShutdownTimeout bounds the graceful shutdown of the server (SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// RateLimitIP, RateLimitUser and RateLimitTenant bound the requests of
	// each client address, each user or API key, and each tenant
	// (RATE_LIMIT_IP, RATE_LIMIT_USER, RATE_LIMIT_TENANT).
	RateLimitIP, RateLimitUser, RateLimitTenant Rate
	// MaxPendingInvitations caps each tenant's pending invitations
	// (MAX_PENDING_INVITATIONS; 0 is no cap).
	MaxPendingInvitations int64
	// MaxInvitationsPerDay caps the invitations each tenant sends per UTC
	// day, revoked ones included (MAX_INVITATIONS_PER_DAY; 0 is no cap).
	MaxInvitationsPerDay int64
	// MaxTenantsPerUser caps the tenants a user may own to create one more
	// (MAX_TENANTS_PER_USER; 0 is no cap).
	MaxTenantsPerUser int64
	// JobTimeout cancels a job run that takes longer (JOB_TIMEOUT).
	JobTimeout time.Duration
	// JobRescueAfter is how long a job may run without its worker being
	// heard from before the broker takes it for crashed and runs it again;
	// 0 is the broker's default (JOB_RESCUE_AFTER).
	JobRescueAfter time.Duration
	// SessionTTL is how long a login's bearer token works (SESSION_TTL).
	SessionTTL time.Duration
	// AppURL is the public URL of the application's front end, which links
	// in email (invitations, password resets) point to (APP_URL).
	AppURL string
	// PasswordResetTTL is how long a password reset link works
	// (PASSWORD_RESET_TTL).
	PasswordResetTTL time.Duration
	// RequireVerifiedEmail refuses sign-in to users who have not verified
	// their email address (EMAIL_VERIFICATION=required, the default;
	// optional lets them in).
	RequireVerifiedEmail bool
	// AuditRetention is how long audit entries are kept (AUDIT_RETENTION);
	// zero, the default, keeps them forever.
	AuditRetention time.Duration
	// Broker configures the job broker; its settings are the broker's own
	// (broker_*.go).
	Broker Broker
}

// Database is the configuration of the Postgres connections. Commands that
// only touch the database load it alone with LoadDatabase.
type Database struct {
	// URL is the application's connection URL (DATABASE_URL). Its role
	// must not own the tables, be a superuser or have BYPASSRLS: row-level
	// security is what keeps tenants apart, and those roles are exempt.
	URL string
	// MigrateURL is the connection migrations run on. It connects as
	// the owner of the tables (MIGRATE_DATABASE_URL), which creates,
	// migrates and drops tenants' schemas and grants the role of URL what
	// it needs in them. The API server creates tenants, so it needs it too.
	MigrateURL string
	// SessionURL reaches the same database as the same role as URL, on a
	// connection that keeps its session (DATABASE_SESSION_URL; URL when
	// unset): Postgres itself or a session-mode pool, never a
	// transaction-pooling proxy. What needs a session runs on it: LISTEN,
	// and creating, migrating and deleting tenants (session advisory
	// locks, the migrations' search_path).
	SessionURL string
	// SecretKey is SECRET_KEY. Schema mode derives from it the key that seals
	// a transaction's tenant (see the postgres package): `migrate` gives the
	// database the same key, so the app and its migrations need the same
	// SECRET_KEY.
	SecretKey string
	// TenantShards is how many single-connection pools tenants are pinned
	// to, two each by a hash of their id, so that a connection keeps its
	// tenants' statements prepared; 0 turns pinning off, and
	// DefaultTenantShards (unset) makes as many as DATABASE_URL's pool
	// may open (TENANT_SHARDS).
	TenantShards int
}

// Problem is one missing or malformed variable.
type Problem struct {
	Var    string
	Reason string
}

// Error reports every problem found in the environment, not just the first.
type Error struct {
	Problems []Problem
}

// Error implements the error interface, one line per problem.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration (see .env.example):")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Var, p.Reason)
	}
	return b.String()
}

// Load reads the configuration through getenv (os.Getenv in production). It
// returns an *Error naming each missing or malformed variable.
func Load(getenv func(string) string) (Config, error) {
	l := &loader{getenv: getenv}
	cfg := Config{
		Database:              l.database(),
		HTTPAddr:              l.listenAddr(l.optional("HTTP_ADDR", DefaultHTTPAddr)),
		BaseDomain:            l.hostname(l.optional("BASE_DOMAIN", "localhost")),
		SecretKey:             l.secret(l.required("SECRET_KEY"), MinSecretKeyLength),
		LogLevel:              l.level(l.optional("LOG_LEVEL", "info")),
		SMTPURL:               l.url(l.optional("SMTP_URL", "smtp://localhost:1025"), "smtp", "smtps"),
		MailFrom:              l.address(l.optional("MAIL_FROM", "acme <no-reply@localhost>")),
		WorkerConcurrency:     l.concurrency(l.optional("WORKER_CONCURRENCY", DefaultWorkerConcurrency)),
		WorkerMetricsAddr:     l.listenAddr(l.optional("WORKER_METRICS_ADDR", DefaultWorkerMetricsAddr)),
		TrustedProxies:        l.prefixes(l.optional("TRUSTED_PROXIES", "")),
		MetricsToken:          l.optionalSecret(l.optional("METRICS_TOKEN", ""), MinMetricsTokenLength),
		ShutdownTimeout:       l.duration(l.optional("SHUTDOWN_TIMEOUT", "15s")),
		JobTimeout:            l.duration(l.optional("JOB_TIMEOUT", "5m")),
		MaxPendingInvitations: int64(l.count(l.optional("MAX_PENDING_INVITATIONS", "50"), 0, 100000)),
		MaxInvitationsPerDay:  int64(l.count(l.optional("MAX_INVITATIONS_PER_DAY", "100"), 0, 1000000)),
		MaxTenantsPerUser:     int64(l.count(l.optional("MAX_TENANTS_PER_USER", "10"), 0, 100000)),
		RateLimitIP:           l.rate(l.optional("RATE_LIMIT_IP", DefaultRateLimitIP)),
		RateLimitUser:         l.rate(l.optional("RATE_LIMIT_USER", DefaultRateLimitUser)),
		RateLimitTenant:       l.rate(l.optional("RATE_LIMIT_TENANT", DefaultRateLimitTenant)),
		JobRescueAfter:        l.optionalDuration(l.optional("JOB_RESCUE_AFTER", "")),
		SessionTTL:            l.duration(l.optional("SESSION_TTL", "24h")),
		AppURL:                l.appURL(l.optional("APP_URL", DefaultAppURL)),
		PasswordResetTTL:      l.duration(l.optional("PASSWORD_RESET_TTL", "1h")),
		RequireVerifiedEmail:  l.oneOf(l.optional("EMAIL_VERIFICATION", "required"), "required", "optional") == "required",
		AuditRetention:        l.optionalDuration(l.optional("AUDIT_RETENTION", "")),
		Broker:                l.broker(),
	}
	if len(l.problems) > 0 {
		return Config{}, &Error{Problems: l.problems}
	}
	cfg.Database.SecretKey = cfg.SecretKey
	return cfg, nil
}

// LoadDatabase reads the database variables alone, for commands that need
// nothing else (migrate, tenant), and SECRET_KEY, which seals tenants' transactions.
func LoadDatabase(getenv func(string) string) (Database, error) {
	l := &loader{getenv: getenv}
	d := l.database()
	d.SecretKey = l.secret(l.required("SECRET_KEY"), MinSecretKeyLength)
	if len(l.problems) > 0 {
		return Database{}, &Error{Problems: l.problems}
	}
	return d, nil
}

// CheckMigrate reports what migrating needs and d lacks: MIGRATE_DATABASE_URL,
// the owner's connection.
func (d Database) CheckMigrate() error {
	if d.MigrateURL == "" {
		return &Error{Problems: []Problem{{Var: "MIGRATE_DATABASE_URL", Reason: "required to migrate: the tables' owner connects with it"}}}
	}
	return nil
}

// CheckProvision reports what creating and deleting tenants needs and d
// lacks: MIGRATE_DATABASE_URL, the owner's connection, which creates and
// drops their schemas. The API server checks it when it starts.
func (d Database) CheckProvision() error {
	if d.MigrateURL == "" {
		return &Error{Problems: []Problem{{Var: "MIGRATE_DATABASE_URL", Reason: "required to serve: the tables' owner creates and drops tenants' schemas with it"}}}
	}
	return nil
}

// DefaultWorkerMetricsAddr is WORKER_METRICS_ADDR when unset.
const DefaultWorkerMetricsAddr = ":9090"

// LoadHTTPAddr reads HTTP_ADDR alone, for commands that need nothing else.
func LoadHTTPAddr(getenv func(string) string) (string, error) {
	return LoadListenAddr(getenv, "HTTP_ADDR", DefaultHTTPAddr)
}

// LoadListenAddr reads one listen-address variable alone.
func LoadListenAddr(getenv func(string) string, name, fallback string) (string, error) {
	l := &loader{getenv: getenv}
	addr := l.listenAddr(l.optional(name, fallback))
	if len(l.problems) > 0 {
		return "", &Error{Problems: l.problems}
	}
	return addr, nil
}

// variable is one environment variable as read; ok is false when a required
// variable is missing (the problem is already recorded).
type variable struct {
	name  string
	value string
	ok    bool
}

// loader reads variables and collects problems instead of stopping at the first.
type loader struct {
	getenv   func(string) string
	problems []Problem
}

func (l *loader) database() Database {
	d := Database{
		URL:          l.url(l.required("DATABASE_URL"), "postgres", "postgresql"),
		TenantShards: DefaultTenantShards,
	}
	if shards := l.optional("TENANT_SHARDS", ""); shards.value != "" {
		d.TenantShards = l.count(shards, 0, MaxTenantShards)
	}
	if migrate := l.optional("MIGRATE_DATABASE_URL", ""); migrate.value != "" {
		d.MigrateURL = l.url(migrate, "postgres", "postgresql")
		if d.URL != "" && d.MigrateURL != "" && urlUser(d.URL) == urlUser(d.MigrateURL) {
			l.fail(migrate.name, "must connect as another role than DATABASE_URL: the owner of the tables, while the app's role owns none")
		}
	}
	d.SessionURL = d.URL
	if session := l.optional("DATABASE_SESSION_URL", ""); session.value != "" {
		d.SessionURL = l.url(session, "postgres", "postgresql")
		if d.URL != "" && d.SessionURL != "" && urlUser(d.URL) != urlUser(d.SessionURL) {
			l.fail(session.name, "must connect as DATABASE_URL's role: it creates tenants and their schemas for it")
		}
	}
	l.tenantExecMode(d.URL)
	return d
}

// tenantExecMode checks the default_query_exec_mode DATABASE_URL may set
// (pgx reads it). Tenant transactions must never reuse a statement prepared
// or described for another tenant's schema, so only exec (the default here)
// and simple_protocol are accepted; a transaction-pooling proxy without
// prepared-statement support (PgBouncer before 1.21) needs one of them for
// the control plane's statements too.
func (l *loader) tenantExecMode(databaseURL string) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return
	}
	switch mode := u.Query().Get("default_query_exec_mode"); mode {
	case "", "exec", "simple_protocol":
	default:
		l.fail("DATABASE_URL", "default_query_exec_mode=%s would reuse one tenant's statements in another's schema: use exec or simple_protocol, or leave it out", mode)
	}
}

func (l *loader) fail(name, format string, args ...any) {
	l.problems = append(l.problems, Problem{Var: name, Reason: fmt.Sprintf(format, args...)})
}

func (l *loader) required(name string) variable {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		l.fail(name, "required but not set")
		return variable{name: name}
	}
	return variable{name: name, value: v, ok: true}
}

func (l *loader) optional(name, fallback string) variable {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		v = fallback
	}
	return variable{name: name, value: v, ok: true}
}

// url checks that v is an absolute URL with one of the schemes. The value is
// never echoed: URLs may carry passwords.
func (l *loader) url(v variable, schemes ...string) string {
	if !v.ok {
		return ""
	}
	u, err := url.Parse(v.value)
	if err != nil || !slices.Contains(schemes, u.Scheme) {
		l.fail(v.name, "must be a URL starting with %s://", strings.Join(schemes, ":// or "))
		return ""
	}
	if u.Host == "" && u.Scheme != "unix" && !strings.HasPrefix(u.Scheme, "postgres") {
		l.fail(v.name, "must name a host")
		return ""
	}
	return v.value
}

// oneOf checks that v is one of choices.
func (l *loader) oneOf(v variable, choices ...string) string {
	if !slices.Contains(choices, v.value) {
		l.fail(v.name, "must be one of %s (got %q)", strings.Join(choices, ", "), v.value)
		return ""
	}
	return v.value
}

// appURL checks the front end's public URL: absolute http or https, a
// host, no credentials, query or fragment (links append a path and a
// fragment to it). It is returned without a trailing slash, and never
// echoed in a problem, like any URL.
func (l *loader) appURL(v variable) string {
	u, err := url.Parse(v.value)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		l.fail(v.name, "must be an absolute http:// or https:// URL such as https://app.example.com")
	case u.User != nil:
		l.fail(v.name, "must not carry a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v.value, "#"):
		l.fail(v.name, "must have no query or fragment: links add their own")
	default:
		return strings.TrimRight(v.value, "/")
	}
	return ""
}

// urlUser returns the user name in a URL that has already been checked.
func urlUser(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.User.Username()
}

// count checks a whole number from lo to hi.
func (l *loader) count(v variable, lo, hi int) int { //nolint:unparam // every count schema mode reads may be 0; database mode's start at 1
	n, err := strconv.Atoi(v.value)
	if err != nil || n < lo || n > hi {
		l.fail(v.name, "must be a whole number from %d to %d (got %q)", lo, hi, v.value)
		return 0
	}
	return n
}

func (l *loader) secret(v variable, minLen int) string {
	if !v.ok {
		return ""
	}
	if len(v.value) < minLen {
		l.fail(v.name, "must be at least %d characters long (got %d); generate one with: openssl rand -hex 32", minLen, len(v.value))
		return ""
	}
	return v.value
}

// optionalSecret is secret for a variable that may be empty.
func (l *loader) optionalSecret(v variable, minLen int) string {
	if v.value == "" {
		return ""
	}
	return l.secret(v, minLen)
}

// address accepts one RFC 5322 address, with or without a display name.
func (l *loader) address(v variable) string {
	if _, err := mail.ParseAddress(v.value); err != nil {
		l.fail(v.name, "must be an email address such as App <no-reply@example.com> (got %q)", v.value)
		return ""
	}
	return v.value
}

// concurrency parses queue=workers pairs, comma-separated.
func (l *loader) concurrency(v variable) map[string]int {
	queues := map[string]int{}
	for pair := range strings.SplitSeq(v.value, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(pair), "=")
		workers, err := strconv.Atoi(n)
		if !ok || !validLabel(name) || err != nil || workers < 1 || workers > 1000 {
			l.fail(v.name, "must be queue=workers pairs such as default=10,email=5, with 1 to 1000 workers (got %q)", pair)
			return nil
		}
		queues[name] = workers
	}
	return queues
}

// prefixes parses comma-separated IP addresses and CIDR prefixes; an
// address stands for itself alone.
func (l *loader) prefixes(v variable) []netip.Prefix {
	var out []netip.Prefix
	for item := range strings.SplitSeq(v.value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			addr, addrErr := netip.ParseAddr(item)
			if addrErr != nil {
				l.fail(v.name, "must be IP addresses or CIDR prefixes such as 10.0.0.0/8,192.0.2.7, comma-separated (got %q)", item)
				return nil
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

func (l *loader) level(v variable) slog.Level {
	var level slog.Level
	if err := level.UnmarshalText([]byte(v.value)); err != nil {
		l.fail(v.name, "must be one of debug, info, warn, error (got %q)", v.value)
	}
	return level
}

func (l *loader) duration(v variable) time.Duration {
	d, err := time.ParseDuration(v.value)
	if err != nil || d <= 0 {
		l.fail(v.name, "must be a positive duration such as 15s or 1m (got %q)", v.value)
		return 0
	}
	return d
}

// Rate is a rate limit: PerSecond requests a second on average, Burst at
// once; the zero Rate is no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// The rate limits when unset: requests per second or minute, and burst.
const (
	DefaultRateLimitIP     = "50/s,100"
	DefaultRateLimitUser   = "20/s,40"
	DefaultRateLimitTenant = "50/s,100"
)

// rate parses a rate setting (see ParseRate).
func (l *loader) rate(v variable) Rate {
	r, err := ParseRate(v.value)
	if err != nil {
		l.fail(v.name, "%v", err)
	}
	return r
}

// ParseRate parses "N/s,BURST" or "N/m,BURST" (N a positive number, BURST
// a positive integer), or "off" (the zero Rate: no limit).
func ParseRate(s string) (Rate, error) {
	if s == "off" {
		return Rate{}, nil
	}
	bad := fmt.Errorf("must be RATE/s,BURST or RATE/m,BURST such as 20/s,40, or off (got %q)", s)
	spec, burstText, ok := strings.Cut(s, ",")
	if !ok {
		return Rate{}, bad
	}
	n, unit, ok := strings.Cut(strings.TrimSpace(spec), "/")
	perUnit, err := strconv.ParseFloat(n, 64)
	burst, burstErr := strconv.Atoi(strings.TrimSpace(burstText))
	if !ok || err != nil || burstErr != nil || perUnit <= 0 || math.IsInf(perUnit, 0) || burst <= 0 {
		return Rate{}, bad
	}
	switch unit {
	case "s":
		return Rate{PerSecond: perUnit, Burst: burst}, nil
	case "m":
		return Rate{PerSecond: perUnit / 60, Burst: burst}, nil
	}
	return Rate{}, bad
}

// optionalDuration is duration, or zero when v is unset.
func (l *loader) optionalDuration(v variable) time.Duration {
	if v.value == "" {
		return 0
	}
	return l.duration(v)
}

func (l *loader) listenAddr(v variable) string {
	_, port, err := net.SplitHostPort(v.value)
	if err != nil {
		l.fail(v.name, "must be host:port or :port (got %q)", v.value)
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		l.fail(v.name, "port must be a number from 0 to 65535 (got %q)", port)
		return ""
	}
	return v.value
}

// hostname accepts a bare DNS name such as example.com or localhost.
func (l *loader) hostname(v variable) string {
	name := v.value
	valid := len(name) <= 253
	for label := range strings.SplitSeq(name, ".") {
		if !validLabel(label) {
			valid = false
		}
	}
	if !valid {
		l.fail(v.name, "must be a lowercase host name such as example.com, without scheme, port or path (got %q)", name)
		return ""
	}
	return name
}

func validLabel(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for _, r := range label {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}
