package cli

import (
	"context"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acme/internal/broker"
	"example.com/acme/internal/config"
	"example.com/acme/internal/httpapi"
	"example.com/acme/internal/jobs"
	"example.com/acme/internal/logging"
	"example.com/acme/internal/postgres"
)

// process is how every command that runs the application starts (serve,
// worker, dev and the one-off jobs and mail commands): load the
// configuration, make the logger, open the services, and close them when
// the command is done. Only these fields differ between commands.
type process struct {
	// role names the connections on the servers: "" for the API,
	// "worker", or "jobs" for a one-off command (no tenant registry).
	role string
	// works says the process runs jobs (worker, dev): its pools then hold
	// a connection for each job that may run at once. An API-only process
	// keeps pgx's default, max(4, CPUs): more connections than that only
	// queue requests in Postgres, where they lengthen the slowest ones.
	works  bool
	format logging.Format
	// quiet logs warnings and errors only, for one-off commands whose
	// output is the answer.
	quiet bool
	// before runs once the configuration is loaded, before any service
	// opens: dev migrates there.
	before func(context.Context, config.Config) error
}

// run starts the process and runs fn with its configuration, logger and
// services.
func (p process) run(ctx context.Context, e env, fn func(config.Config, *slog.Logger, *services) error) error {
	cfg, loadErr := config.Load(e.getenv)
	if loadErr != nil {
		return loadErr
	}
	if p.role == "" {
		if err := cfg.Database.CheckProvision(); err != nil {
			return err
		}
	}
	if p.before != nil {
		if err := p.before(ctx, cfg); err != nil {
			return err
		}
	}
	level := cfg.LogLevel
	if p.quiet {
		level = max(level, slog.LevelWarn)
	}
	logger := logging.New(e.stderr, level, p.format)
	s, err := openServices(ctx, cfg, logger, p)
	if err != nil {
		return err
	}
	defer s.close()
	return fn(cfg, logger, s)
}

// services are the connections serve, worker and jobs share: the database
// pool, the broker and the job client on them, and (for serve and worker)
// the tenant registry, the only way to tenant data.
type services struct {
	pool    *pgxpool.Pool
	jobs    *jobs.Client
	tenants *postgres.Tenants // nil for one-off jobs commands
	// checks are the readiness checks of the connections.
	checks  []httpapi.Check
	closers []func()
}

// openServices opens the connections. Close them with close.
func openServices(ctx context.Context, cfg config.Config, logger *slog.Logger, p process) (_ *services, err error) {
	// Not the named result: a failure returns nil, and what was opened
	// until then must still be closed.
	s := &services{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	name := appName
	if p.role != "" {
		name += "-" + p.role
	}
	// Every running job holds a connection for its transaction (on the
	// tenants' pool for a tenant's job, on this one for a control-plane
	// job); the relay and the broker's own bookkeeping need a few more.
	var running int32
	if p.works {
		for _, n := range cfg.WorkerConcurrency {
			running += int32(n) //nolint:gosec // at most 1000 per queue, validated
		}
	}
	if s.pool, err = postgres.Open(ctx, cfg.Database.URL, name, postgres.MinMaxConns(running+8)); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.pool.Close)
	s.checks = append(s.checks, httpapi.Check{Name: "database", Ping: s.pool.Ping})
	// What LISTENs needs a session: when DATABASE_URL goes through a
	// transaction-pooling proxy, DATABASE_SESSION_URL goes around it.
	session := s.pool
	if cfg.Database.SessionURL != cfg.Database.URL {
		// The worker's River runs here: its listener holds a connection,
		// its fetches, completions and leader election take a few more.
		if session, err = postgres.Open(ctx, cfg.Database.SessionURL, name+"-session", postgres.MinMaxConns(8)); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, session.Close)
		s.checks = append(s.checks, httpapi.Check{Name: "database-session", Ping: session.Ping})
	}
	if p.role != "jobs" {
		s.tenants, err = postgres.OpenTenants(ctx, cfg.Database, postgres.TenantsOptions{
			AppName: name, MaxConnsAtLeast: running, Logger: logger, MaxOwnedTenants: cfg.MaxTenantsPerUser,
		})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.tenants.Close)
		// The registry's connections are its own, checked when made (in
		// row mode, for a role row-level security confines): ready means
		// it can make one.
		s.checks = append(s.checks, httpapi.Check{Name: "tenants", Ping: s.tenants.Ping})
	}
	b, err := broker.Open(broker.Options{Config: cfg.Broker, Pool: s.pool, SessionPool: session, ClientName: name})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { _ = b.Close() })
	for _, c := range b.Checks() {
		s.checks = append(s.checks, httpapi.Check{Name: c.Name, Ping: c.Ping})
	}
	jobsCfg := jobs.Config{Pool: s.pool, SessionPool: session, Logger: logger, Name: cfg.Broker.Namespace, Broker: b}

	if s.jobs, err = jobs.Open(ctx, jobsCfg); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { _ = s.jobs.Close() })
	if s.tenants != nil {
		// Tenant units of work enqueue their jobs with this client, record
		// their changes in the audit log.
		audit := postgres.NewAuditLog(s.tenants)
		s.tenants.UseSeams(postgres.Seams{Jobs: s.jobs, Audit: audit})
	}
	return s, nil
}

// close closes what openServices opened, last first.
func (s *services) close() {
	for _, c := range slices.Backward(s.closers) {
		c()
	}
}
