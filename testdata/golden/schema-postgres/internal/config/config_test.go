package config_test

import (
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/config"
)

// validEnv returns a complete, valid environment; tests change one thing.
func validEnv() map[string]string {
	env := map[string]string{
		"DATABASE_URL":         "postgres://app@localhost:5432/app?sslmode=disable",
		"MIGRATE_DATABASE_URL": "postgres://owner@localhost:5432/app?sslmode=disable",
		"SECRET_KEY":           "0123456789abcdef0123456789abcdef",
	}
	maps.Copy(env, validBrokerEnv())
	return env
}

// malformed is a variable's bad value and the reason Load gives for it.
type malformed struct {
	name   string
	value  string
	reason string
}

func load(env map[string]string) (config.Config, error) {
	return config.Load(func(name string) string { return env[name] })
}

// problems returns the variables named in err, which must be a *config.Error.
func problems(t *testing.T, err error) map[string]string {
	t.Helper()
	var cerr *config.Error
	require.ErrorAs(t, err, &cerr)
	got := make(map[string]string, len(cerr.Problems))
	for _, p := range cerr.Problems {
		got[p.Var] = p.Reason
	}
	return got
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()

	cfg, err := load(validEnv())
	require.NoError(t, err)
	require.Equal(t, "postgres://app@localhost:5432/app?sslmode=disable", cfg.Database.URL)
	require.Equal(t, "postgres://owner@localhost:5432/app?sslmode=disable", cfg.Database.MigrateURL)
	require.Equal(t, cfg.Database.URL, cfg.Database.SessionURL, "without a pooler in between, DATABASE_URL keeps its sessions")
	require.Equal(t, config.DefaultTenantShards, cfg.Database.TenantShards, "as many as DATABASE_URL's pool")
	require.Equal(t, ":8080", cfg.HTTPAddr)
	require.Equal(t, config.Rate{PerSecond: 50, Burst: 100}, cfg.RateLimitIP)
	require.Equal(t, config.Rate{PerSecond: 20, Burst: 40}, cfg.RateLimitUser)
	require.Equal(t, config.Rate{PerSecond: 50, Burst: 100}, cfg.RateLimitTenant)
	require.Equal(t, 5*time.Minute, cfg.JobTimeout)
	require.Equal(t, int64(50), cfg.MaxPendingInvitations)
	require.Equal(t, int64(100), cfg.MaxInvitationsPerDay)
	require.Equal(t, int64(10), cfg.MaxTenantsPerUser)
	require.Zero(t, cfg.JobRescueAfter, "the broker's default")
	require.Equal(t, "localhost", cfg.BaseDomain)
	require.Equal(t, slog.LevelInfo, cfg.LogLevel)
	require.Equal(t, "smtp://localhost:1025", cfg.SMTPURL)
	require.Equal(t, "acme <no-reply@localhost>", cfg.MailFrom)
	require.Equal(t, map[string]int{"default": 10, "email": 5}, cfg.WorkerConcurrency)
	require.Equal(t, ":9090", cfg.WorkerMetricsAddr)
	require.Empty(t, cfg.TrustedProxies, "no proxy is trusted unless named")
	require.Empty(t, cfg.MetricsToken)
	require.Equal(t, 15*time.Second, cfg.ShutdownTimeout)
	require.Equal(t, "http://localhost:3000", cfg.AppURL)
	require.Equal(t, time.Hour, cfg.PasswordResetTTL)
	require.True(t, cfg.RequireVerifiedEmail, "verification is required unless turned off")
}

func TestLoadOverrides(t *testing.T) {
	t.Parallel()

	env := validEnv()
	env["HTTP_ADDR"] = "127.0.0.1:9000"
	env["BASE_DOMAIN"] = "saas.example.com"
	env["LOG_LEVEL"] = "DEBUG"
	env["SMTP_URL"] = "smtps://user:pass@smtp.example.com:465"
	env["SHUTDOWN_TIMEOUT"] = "1m"
	env["DATABASE_SESSION_URL"] = "postgres://app@db-direct:5432/app"
	env["JOB_TIMEOUT"] = "90s"
	env["RATE_LIMIT_IP"] = "off"
	env["RATE_LIMIT_USER"] = "120/m, 10"
	env["RATE_LIMIT_TENANT"] = "7.5/s,15"
	env["JOB_RESCUE_AFTER"] = "10m"
	env["MAIL_FROM"] = "billing@example.com"
	env["WORKER_CONCURRENCY"] = "default=2, reports=1"
	env["WORKER_METRICS_ADDR"] = "127.0.0.1:9191"
	env["TRUSTED_PROXIES"] = "10.0.0.0/8, 192.0.2.7,2001:db8::/32"
	env["METRICS_TOKEN"] = "0123456789abcdef0123456789abcdef"
	env["APP_URL"] = "https://app.example.com/console/"
	env["PASSWORD_RESET_TTL"] = "20m"
	env["EMAIL_VERIFICATION"] = "optional"
	cfg, err := load(env)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9000", cfg.HTTPAddr)
	require.Equal(t, "saas.example.com", cfg.BaseDomain)
	require.Equal(t, slog.LevelDebug, cfg.LogLevel)
	require.Equal(t, "smtps://user:pass@smtp.example.com:465", cfg.SMTPURL)
	require.Equal(t, time.Minute, cfg.ShutdownTimeout)
	require.Equal(t, "postgres://app@db-direct:5432/app", cfg.Database.SessionURL)
	require.Equal(t, 90*time.Second, cfg.JobTimeout)
	require.Equal(t, config.Rate{}, cfg.RateLimitIP, "off")
	require.Equal(t, config.Rate{PerSecond: 2, Burst: 10}, cfg.RateLimitUser)
	require.Equal(t, config.Rate{PerSecond: 7.5, Burst: 15}, cfg.RateLimitTenant)
	require.Equal(t, 10*time.Minute, cfg.JobRescueAfter)
	require.Equal(t, "billing@example.com", cfg.MailFrom)
	require.Equal(t, map[string]int{"default": 2, "reports": 1}, cfg.WorkerConcurrency)
	require.Equal(t, "127.0.0.1:9191", cfg.WorkerMetricsAddr)
	require.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32"),
	}, cfg.TrustedProxies)
	require.Equal(t, "0123456789abcdef0123456789abcdef", cfg.MetricsToken)
	require.Equal(t, "https://app.example.com/console", cfg.AppURL, "links append to it: no trailing slash")
	require.Equal(t, 20*time.Minute, cfg.PasswordResetTTL)
	require.False(t, cfg.RequireVerifiedEmail)
}

func TestLoadNamesEveryMissingVariable(t *testing.T) {
	t.Parallel()

	required := slices.Concat([]string{
		"DATABASE_URL",
		"SECRET_KEY",
	}, requiredBrokerVars)
	_, err := load(map[string]string{})
	got := problems(t, err)
	for _, name := range required {
		require.Contains(t, got, name)
		require.Equal(t, "required but not set", got[name])
		require.ErrorContains(t, err, name+": required but not set")
	}
	require.Len(t, got, len(required), "only required variables are reported: %v", got)
}

func TestLoadNamesEachMalformedVariable(t *testing.T) {
	t.Parallel()

	tests := slices.Concat([]malformed{
		{"DATABASE_URL", "mysql://localhost/app", "must be a URL starting with postgres:// or postgresql://"},
		{"MIGRATE_DATABASE_URL", "mysql://localhost/app", "must be a URL starting with postgres:// or postgresql://"},
		{"MIGRATE_DATABASE_URL", "postgres://app@db:5432/app", "must connect as another role than DATABASE_URL"},
		{"DATABASE_SESSION_URL", "pgbouncer:6432", "must be a URL starting with postgres://"},
		{"DATABASE_SESSION_URL", "postgres://someone-else@db:5432/app", "must connect as DATABASE_URL's role"},
		{"DATABASE_URL", "postgres://app@pgbouncer:6432/app?default_query_exec_mode=cache_describe", "default_query_exec_mode=cache_describe would reuse one tenant's statements"},
		{"TENANT_SHARDS", "65", "must be a whole number from 0 to 64"},
		{"TENANT_SHARDS", "-1", "must be a whole number from 0 to 64"},
		{"SECRET_KEY", "short", "must be at least 32 characters long (got 5)"},
		{"HTTP_ADDR", "8080", `must be host:port or :port (got "8080")`},
		{"METRICS_TOKEN", "short", "must be at least 32 characters long (got 5)"},
		{"TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal", `must be IP addresses or CIDR prefixes such as 10.0.0.0/8,192.0.2.7, comma-separated (got "proxy.internal")`},
		{"TRUSTED_PROXIES", "10.0.0.0/33", `(got "10.0.0.0/33")`},
		{"HTTP_ADDR", ":http", `port must be a number from 0 to 65535 (got "http")`},
		{"BASE_DOMAIN", "https://example.com", "must be a lowercase host name"},
		{"BASE_DOMAIN", "Example.com", "must be a lowercase host name"},
		{"LOG_LEVEL", "loud", `must be one of debug, info, warn, error (got "loud")`},
		{"SMTP_URL", "mailpit:1025", "must be a URL starting with smtp:// or smtps://"},
		{"SMTP_URL", "smtp://", "must name a host"},
		{"SHUTDOWN_TIMEOUT", "15", `must be a positive duration such as 15s or 1m (got "15")`},
		{"SHUTDOWN_TIMEOUT", "-1s", "must be a positive duration"},
		{"JOB_TIMEOUT", "0s", "must be a positive duration"},
		{"RATE_LIMIT_IP", "20", "must be RATE/s,BURST or RATE/m,BURST"},
		{"RATE_LIMIT_USER", "20/h,5", "must be RATE/s,BURST"},
		{"RATE_LIMIT_TENANT", "0/s,5", "must be RATE/s,BURST"},
		{"RATE_LIMIT_TENANT", "5/s,0", "must be RATE/s,BURST"},
		{"JOB_RESCUE_AFTER", "soon", "must be a positive duration"},
		{"MAIL_FROM", "not an address", "must be an email address"},
		{"WORKER_CONCURRENCY", "default", "must be queue=workers pairs"},
		{"WORKER_CONCURRENCY", "default=0", "with 1 to 1000 workers"},
		{"WORKER_CONCURRENCY", "Bad.Queue=1", "must be queue=workers pairs"},
		{"WORKER_METRICS_ADDR", "9090", `must be host:port or :port (got "9090")`},
		{"APP_URL", "app.example.com", "must be an absolute http:// or https:// URL"},
		{"APP_URL", "ftp://app.example.com", "must be an absolute http:// or https:// URL"},
		{"APP_URL", "https://", "must be an absolute http:// or https:// URL"},
		{"APP_URL", "https://app.example.com/?next=1", "must have no query or fragment"},
		{"APP_URL", "https://app.example.com/#/home", "must have no query or fragment"},
		{"APP_URL", "https://user:secret@app.example.com", "must not carry a user name or password"},
		{"PASSWORD_RESET_TTL", "0s", "must be a positive duration"},
		{"EMAIL_VERIFICATION", "yes", `must be one of required, optional (got "yes")`},
	}, malformedBrokerVars)
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()

			env := validEnv()
			env[tt.name] = tt.value
			_, err := load(env)
			got := problems(t, err)
			require.Len(t, got, 1, "exactly one problem expected: %v", got)
			require.Contains(t, got[tt.name], tt.reason)
		})
	}
}

func TestLoadReportsAllProblemsAtOnce(t *testing.T) {
	t.Parallel()

	env := validEnv()
	delete(env, "DATABASE_URL")
	env["SECRET_KEY"] = "too-short"
	env["LOG_LEVEL"] = "verbose"
	_, err := load(env)
	got := problems(t, err)
	require.Equal(t, []string{"DATABASE_URL", "LOG_LEVEL", "SECRET_KEY"}, sortedKeys(got))
}

func TestCheckMigrate(t *testing.T) {
	t.Parallel()

	cfg, err := load(validEnv())
	require.NoError(t, err)
	require.NoError(t, cfg.Database.CheckMigrate())

	env := validEnv()
	delete(env, "MIGRATE_DATABASE_URL")
	cfg, err = load(env)
	require.NoError(t, err, "the worker needs no owner connection")
	require.Contains(t, problems(t, cfg.Database.CheckMigrate()), "MIGRATE_DATABASE_URL")
	require.Contains(t, problems(t, cfg.Database.CheckProvision()), "MIGRATE_DATABASE_URL", "serving creates tenants' schemas as the owner")
}

func TestLoadDatabaseNeedsOnlyTheDatabase(t *testing.T) {
	t.Parallel()

	env := map[string]string{
		"DATABASE_URL":         "postgres://app@localhost:5432/app",
		"MIGRATE_DATABASE_URL": "postgres://owner@localhost:5432/app",
		// Schema mode seals tenants' transactions with a key derived from it.
		"SECRET_KEY": strings.Repeat("k", config.MinSecretKeyLength),
	}
	d, err := config.LoadDatabase(func(name string) string { return env[name] })
	require.NoError(t, err)
	require.Equal(t, "postgres://app@localhost:5432/app", d.URL)
	require.Equal(t, env["SECRET_KEY"], d.SecretKey)

	_, err = config.LoadDatabase(func(string) string { return "" })
	require.Contains(t, problems(t, err), "DATABASE_URL")
	require.Contains(t, problems(t, err), "SECRET_KEY")
}

func TestLoadHTTPAddr(t *testing.T) {
	t.Parallel()

	addr, err := config.LoadHTTPAddr(func(string) string { return "" })
	require.NoError(t, err)
	require.Equal(t, config.DefaultHTTPAddr, addr)

	_, err = config.LoadHTTPAddr(func(string) string { return "nope" })
	require.Contains(t, problems(t, err), "HTTP_ADDR")
}

func TestErrorNeverEchoesURLs(t *testing.T) {
	t.Parallel()

	env := validEnv()
	env["DATABASE_URL"] = "mysql://root:hunter2@db/app"
	env["APP_URL"] = "https://root:hunter3@app.example.com/?x=1"
	_, err := load(env)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
	require.NotContains(t, err.Error(), "hunter3")
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
