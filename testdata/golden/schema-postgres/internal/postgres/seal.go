package postgres

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acme/internal/config"
	"example.com/acme/internal/domain"
)

// The tenant seal, shared by row and schema mode: what keeps SQL run in a
// tenant's transaction (a handler's or a job's own) inside that tenant.
//
// A tenant transaction carries app.tenant_seal, set for the transaction
// only: "<id>.<expiry>.<hmac>", the tenant's id, an expiry and an HMAC of
// both under a key derived from SECRET_KEY. Row-level security policies
// compare the rows' tenant with app_tenant(), which checks the seal with
// the same key, kept where the app's role cannot read it, and fails the
// statement when the seal does not hold. Setting another tenant's seal
// needs the key; clearing it leaves no tenant's row visible or writable.
//
// Postgres exempts superusers, roles with BYPASSRLS and table owners from
// policies, so the app connects (DATABASE_URL) as a role that is none of
// these, while migrations run as the owner (MIGRATE_DATABASE_URL) and grant
// the app's role what it needs. Every new connection of the app's pool
// checks its role and is refused if it could bypass the policies.

// sealTarget names the seal's install for its migration lock.
const sealTarget = "tenant seal"

// errUnsafeRole marks a connection refused because its role could get
// around row-level security: no request can be served through it.
var errUnsafeRole = errors.New("DATABASE_URL's role is not confined by row-level security")

// refuseBypassingRole fails a connection whose role could get around
// row-level security: a superuser, a BYPASSRLS role, the owner of a table,
// or a member of any of those (SET ROLE would make it one).
func refuseBypassingRole(ctx context.Context, conn *pgx.Conn) error {
	var role string
	var bypasses, owns bool
	err := conn.QueryRow(ctx, `
		SELECT current_user,
		       EXISTS (SELECT 1 FROM pg_roles r
		               WHERE (r.rolsuper OR r.rolbypassrls) AND pg_has_role(current_user, r.oid, 'MEMBER')),
		       EXISTS (SELECT 1 FROM pg_class c
		               WHERE c.relkind IN ('r', 'p') AND pg_has_role(current_user, c.relowner, 'MEMBER'))`,
	).Scan(&role, &bypasses, &owns)
	if err != nil {
		return fmt.Errorf("check the app's role: %w", err)
	}
	switch {
	case bypasses:
		return fmt.Errorf("%w: it connects as %q, a superuser or BYPASSRLS role (or a member of one), which row-level security does not apply to; connect as a role that is neither", errUnsafeRole, role)
	case owns:
		return fmt.Errorf("%w: it connects as %q, which owns tables (or is a member of a role that does); connect as a role that owns none and run migrations as the owner (MIGRATE_DATABASE_URL)", errUnsafeRole, role)
	}
	return nil
}

// tenantStorage keeps tenants apart with row-level security, each in
// its own schema. The owner (MIGRATE_DATABASE_URL) migrates, and creates
// and drops tenants' schemas; the app's role (DATABASE_URL) owns nothing and
// reaches a tenant's rows only in a transaction sealed to that tenant.
type tenantStorage struct {
	ts         *Tenants
	appRole    string          // DATABASE_URL's role, granted access by migrations
	migrateCfg *pgx.ConnConfig // MIGRATE_DATABASE_URL, the owner; nil when not given
	sealKey    []byte          // the seal's HMAC key (sealKeyFrom SECRET_KEY)
	// prepared is set when the control plane's statements are prepared
	// (controlPlaneDB): so are the session check that leads a tenant
	// read (see sendChecked) and the tenants' own statements
	// (tenant_statements.go).
	prepared bool
	// maxStatements is how many tenant statements a connection of the
	// shared pool keeps prepared (maxTenantStatements); shardStatements,
	// a shard's connection (maxShardStatements).
	maxStatements, shardStatements int
	// shards pin tenants to connections (tenant_shards.go); nil when
	// statements are not prepared or TENANT_SHARDS is 0.
	shards *tenantShards
}

// newTenantStorage checks DATABASE_URL's role before anything is served: a
// role policies do not apply to would make every tenant's request fail (see
// refuseBypassingRole), so the process must not start, listen and report
// ready with it. A database that cannot be reached yet is no such verdict:
// it may come back, and readiness reports it meanwhile.
func newTenantStorage(ctx context.Context, ts *Tenants, cfg config.Database, appName string) (*tenantStorage, error) {
	appCfg, err := parseConnConfig(cfg.URL)
	if err != nil {
		return nil, errors.New("postgres: DATABASE_URL is not a valid connection string")
	}
	pingCtx, cancel := context.WithTimeout(ctx, roleCheckTimeout)
	defer cancel()
	if err = ts.pool.Ping(pingCtx); errors.Is(err, errUnsafeRole) {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.SecretKey == "" {
		return nil, errors.New("postgres: SECRET_KEY is needed to seal tenants' transactions")
	}
	s := &tenantStorage{ts: ts, appRole: appCfg.User, sealKey: sealKeyFrom(cfg.SecretKey), prepared: !execModeChosen(cfg.URL), maxStatements: maxTenantStatements, shardStatements: maxShardStatements}
	if sealErr := s.checkSeal(pingCtx); sealErr != nil {
		return nil, sealErr
	}
	if cfg.MigrateURL != "" { // migrating, creating and deleting tenants need it
		s.migrateCfg, err = parseConnConfig(cfg.MigrateURL)
		if err != nil {
			return nil, errors.New("postgres: MIGRATE_DATABASE_URL is not a valid connection string")
		}
		s.migrateCfg.RuntimeParams["application_name"] = appName + "-migrate"
	}
	shards := cfg.TenantShards
	if shards == config.DefaultTenantShards {
		shards = int(min(ts.pool.Config().MaxConns, config.MaxTenantShards))
	}
	if s.prepared && shards > 0 {
		s.shards, err = newTenantShards(ctx, ts.pool, shards, func() int { return s.shardStatements })
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *tenantStorage) close() {
	if s.shards != nil {
		s.shards.close()
	}
}

// sealTTL is how long a seal is good for: a transaction must begin within
// it (app_tenant() compares the expiry with the transaction's start), so
// it is also how far ahead of this process the database server's clock
// may run.
const sealTTL = 5 * time.Minute

// sealKeyFrom derives the seal's key from SECRET_KEY, so the database holds
// a key good for nothing else.
func sealKeyFrom(secret string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	_, _ = mac.Write([]byte("tenant seal v1"))
	return mac.Sum(nil)
}

// seal returns the value of app.tenant_seal that enters t for a
// transaction beginning before now+sealTTL: "<id>.<expiry>.<hmac>", the
// expiry in Unix seconds and the HMAC-SHA256 of "<id>.<expiry>" in hex.
func (s *tenantStorage) seal(t domain.Tenant, now time.Time) string {
	msg := t.ID + "." + strconv.FormatInt(now.Add(sealTTL).Unix(), 10)
	mac := hmac.New(sha256.New, s.sealKey)
	_, _ = mac.Write([]byte(msg))
	return msg + "." + hex.EncodeToString(mac.Sum(nil))
}

// sealStatement sets a transaction's seal. Its argument is the seal: a
// bind parameter, so no statement text (pg_stat_activity) ever shows one.
const sealStatement = "-- name: EnterTenant\nSELECT set_config('app.tenant_seal', $1, true)"

// beginEntered begins a transaction and runs enter (with args) in it, in
// one round trip: BEGIN and enter go out in one pipeline
// (pgx.Batch.BeginTx), the seal as a bind parameter; in BEGIN's text it
// would be readable in pg_stat_activity for as long as the transaction
// lasts.
func beginEntered(t domain.Tenant, enter string, args ...any) func(context.Context, *pgx.Conn) (pgx.Tx, error) {
	return func(ctx context.Context, conn *pgx.Conn) (pgx.Tx, error) {
		b := &pgx.Batch{}
		b.BeginTx(pgx.TxOptions{})
		b.Queue(enter, args...)
		results := conn.SendBatch(ctx, b)
		tx := results.Tx()
		if err := results.Close(); err != nil {
			if tx != nil {
				_ = tx.Rollback(context.WithoutCancel(ctx))
			}
			return nil, fmt.Errorf("enter tenant %s: %w", t.Slug, err)
		}
		return tx, nil
	}
}

// asOwner runs fn on a connection of its own as the owner of the tables
// (MIGRATE_DATABASE_URL), for what the app's role may not do: what needs
// it fails when it is not given.
func (s *tenantStorage) asOwner(ctx context.Context, what string, fn func(*pgx.Conn) error) error {
	if s.migrateCfg == nil {
		return domain.Errorf(domain.EUNAVAILABLE, "%s needs MIGRATE_DATABASE_URL, the owner's connection", what)
	}
	conn, err := pgx.ConnectConfig(ctx, s.migrateCfg)
	if err != nil {
		return fmt.Errorf("connect to MIGRATE_DATABASE_URL: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	return fn(conn)
}

// roleCheckTimeout bounds the role check when the registry opens, so an
// unreachable database delays startup by this much at most.
const roleCheckTimeout = 5 * time.Second

// errSealRejected marks a database that refuses this process's seals: no
// tenant's data can be served.
var errSealRejected = errors.New("the database rejects this process's tenant seal")

// checkSeal makes sure the database accepts this process's seals, so that
// a process whose SECRET_KEY is not the one `migrate` last ran with fails
// at start-up instead of failing every tenant's request. A database not
// migrated yet (no app_tenant) or not reachable is no verdict: readiness
// reports those.
func (s *tenantStorage) checkSeal(ctx context.Context) error {
	probe := domain.Tenant{ID: "00000000-0000-0000-0000-000000000000"}
	var id string
	err := (&oneQuery{pool: s.ts.pool, enter: sealStatement, args: []any{s.seal(probe, time.Now())}}).
		QueryRow(ctx, `SELECT app_tenant()::text`).Scan(&id)
	pgErr, isPg := errors.AsType[*pgconn.PgError](err)
	switch {
	case err == nil && id == probe.ID:
		return nil
	case isPg && pgErr.Code == "42883": // undefined_function: not migrated yet
		return nil
	case isPg && pgErr.Code == "42501" && strings.Contains(pgErr.Message, "tenant seal"): // app_tenant()'s own refusal
		return fmt.Errorf("postgres: %w: SECRET_KEY is not the one `migrate` last ran with (run migrate with this SECRET_KEY), "+
			"or the database server's clock runs more than %s ahead of this machine's", errSealRejected, sealTTL)
	case err == nil:
		return fmt.Errorf("postgres: %w: app_tenant() returned %q", errSealRejected, id)
	default:
		return nil
	}
}

// appTenantFunction is app_tenant(): the tenant whose valid seal the
// transaction carries, NULL when it carries none, and an error when the
// seal is malformed, forged or expired. It runs as the owner (SECURITY
// DEFINER), the only role that may read the key, with a fixed search_path.
// It rebuilds the seal from its id and expiry and compares the whole,
// hashed, with the one given: any other shape fails the comparison, and
// its time tells nothing about the expected MAC. Cost: ~11 µs a call, most
// of it the key's read and the hashing, once per statement (a subquery in
// the policies).
const appTenantFunction = `CREATE OR REPLACE FUNCTION public.app_tenant() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    seal   text := current_setting('app.tenant_seal', true);
    signed text;
    valid  boolean;
BEGIN
    IF seal IS NULL OR seal = '' THEN
        RETURN NULL;
    END IF;
    signed := split_part(seal, '.', 1) || '.' || split_part(seal, '.', 2);
    SELECT sha256(convert_to(signed || '.' || encode(sha256(k.opad || sha256(k.ipad || convert_to(signed, 'UTF8'))), 'hex'), 'UTF8'))
           = sha256(convert_to(seal, 'UTF8'))
      INTO valid FROM app_private.tenant_seal_key k;
    IF valid IS NOT TRUE OR split_part(signed, '.', 2)::bigint <= extract(epoch FROM now()) THEN
        RAISE EXCEPTION 'the transaction''s tenant seal is not valid' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN split_part(signed, '.', 1)::uuid;
END
$fn$`

// InstallSeal gives the database the seal key of SECRET_KEY secret and
// app_tenant(), on pool (the owner's). migrate runs it before it opens the
// tenant registry, which checks that the database accepts this process's
// seals: a new SECRET_KEY takes effect there.
func InstallSeal(ctx context.Context, pool *pgxpool.Pool, secret string) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("install the tenant seal: %w", err)
	}
	defer conn.Release()
	return installSeal(ctx, conn.Conn(), sealKeyFrom(secret))
}

// installSeal creates what checks seals: the key, in a schema only the
// owner reaches, and app_tenant(). Run as the owner before every
// migration (a tenant table's migration may name app_tenant()), under the
// tenant tables' migration lock, so concurrent migrators take turns.
func installSeal(ctx context.Context, conn *pgx.Conn, key []byte) error {
	// HMAC's padded keys (RFC 2104, SHA-256's 64-byte block): the database
	// computes the same HMAC with sha256() alone.
	ipad, opad := make([]byte, sha256.BlockSize), make([]byte, sha256.BlockSize)
	copy(ipad, key)
	copy(opad, key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// One at a time: each statement needs the objects the one before made.
		for _, stmt := range []struct {
			sql  string
			args []any
		}{
			{`SELECT pg_advisory_xact_lock($1)`, []any{migrationLockID(sealTarget)}},
			{`CREATE SCHEMA IF NOT EXISTS app_private`, nil},
			{`REVOKE ALL ON SCHEMA app_private FROM PUBLIC`, nil},
			{`CREATE TABLE IF NOT EXISTS app_private.tenant_seal_key (
				one  boolean PRIMARY KEY DEFAULT true CHECK (one),
				ipad bytea NOT NULL,
				opad bytea NOT NULL)`, nil},
			{`INSERT INTO app_private.tenant_seal_key (ipad, opad) VALUES ($1, $2)
				ON CONFLICT (one) DO UPDATE SET ipad = excluded.ipad, opad = excluded.opad
				WHERE (tenant_seal_key.ipad, tenant_seal_key.opad) IS DISTINCT FROM (excluded.ipad, excluded.opad)`, []any{ipad, opad}},
			{appTenantFunction, nil},
		} {
			if _, err := tx.Exec(ctx, stmt.sql, stmt.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("install the tenant seal: %w", err)
	}
	return nil
}

// controlPlaneTenantTables are the control plane's tables that name a
// tenant. The control plane reads them across tenants before it knows the
// tenant (a token's, a user's tenants, an invitation's, a Stripe
// customer's), so outside a tenant's transaction they are not confined;
// inside one (a seal set) row-level security confines them as it
// does the tenant tables: only that tenant's rows are visible or writable,
// whatever SQL a handler or job runs there.
var controlPlaneTenantTables = []string{
	"api_keys", "audit_heads",
	"control_audit_chain", "control_audit_entries", "invitation_counts", "invitations", "job_processed",
	"memberships", "object_grants", "roles",
}

// controlPlanePolicy is the policy confining a control-plane table in a
// tenant's transaction.
const controlPlanePolicy = "tenant_scope"

// confineControlPlane enables and forces row-level security on the
// control-plane tables that name a tenant, with the policy tenant_scope:
// any row when no tenant is set, the tenant's rows when one is. Run as the
// owner on every migration; tables already confined are left alone (no
// lock taken).
func confineControlPlane(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `
		SELECT c.relname, format_type(a.atttypid, a.atttypmod), c.relrowsecurity, c.relforcerowsecurity,
		       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = $2)
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname = ANY($1)`,
		controlPlaneTenantTables, controlPlanePolicy)
	if err != nil {
		return fmt.Errorf("list control-plane tables: %w", err)
	}
	type table struct {
		name, idType            string
		enabled, forced, policy bool
	}
	tables, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (table, error) {
		var tb table
		scanErr := row.Scan(&tb.name, &tb.idType, &tb.enabled, &tb.forced, &tb.policy)
		return tb, scanErr
	})
	if err != nil {
		return fmt.Errorf("list control-plane tables: %w", err)
	}
	batch := &pgx.Batch{}
	for _, tb := range tables {
		name := pgx.Identifier{"public", tb.name}.Sanitize()
		if !tb.enabled {
			batch.Queue("ALTER TABLE " + name + " ENABLE ROW LEVEL SECURITY")
		}
		if !tb.forced {
			batch.Queue("ALTER TABLE " + name + " FORCE ROW LEVEL SECURITY")
		}
		if tb.policy {
			continue
		}
		tenant := "(SELECT app_tenant())"
		if tb.idType != "uuid" {
			tenant += "::text"
		}
		// The seal is looked at only when there is one: the control
		// plane's own statements (no seal) never call app_tenant().
		rule := "(NULLIF(current_setting('app.tenant_seal', true), '') IS NULL OR tenant_id = " + tenant + ")"
		batch.Queue("CREATE POLICY " + controlPlanePolicy + " ON " + name + " USING " + rule + " WITH CHECK " + rule)
	}
	if batch.Len() == 0 {
		return nil
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("confine the control-plane tables: %w", err)
	}
	return nil
}

// grantAppRole gives role what the app needs, and no more: data access on
// the tables in public, read access to the version tables (tenant creation
// checks the tenant tables are migrated), use of the sequences. It refuses a
// role that could bypass row-level security. Run as the owner, on every
// migration, so new tables are covered.
func grantAppRole(ctx context.Context, conn *pgx.Conn, role string) error {
	var owner string
	var bypasses, isOwner bool
	err := conn.QueryRow(ctx, `
		SELECT current_user,
		       EXISTS (SELECT 1 FROM pg_roles r
		               WHERE (r.rolsuper OR r.rolbypassrls) AND pg_has_role($1, r.oid, 'MEMBER')),
		       pg_has_role($1, current_user, 'MEMBER')`, role,
	).Scan(&owner, &bypasses, &isOwner)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42704" {
		return fmt.Errorf("DATABASE_URL's role %q does not exist; create it (LOGIN, no other attributes) before migrating", role)
	}
	if err != nil {
		return fmt.Errorf("check DATABASE_URL's role: %w", err)
	}
	switch {
	case isOwner:
		return fmt.Errorf("DATABASE_URL's role %q is (or is a member of) %q, the owner of the tables that MIGRATE_DATABASE_URL connects as; the app's role must own none", role, owner)
	case bypasses:
		return fmt.Errorf("DATABASE_URL's role %q is a superuser or has BYPASSRLS (or is a member of such a role); row-level security would not apply to it", role)
	}
	// The app's tables are in public, the job queue's in River's schema.
	rows, err := conn.Query(ctx, `
		SELECT n.nspname, c.relname, c.relkind = 'S'
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'river') AND c.relkind IN ('r', 'p', 'S')
		ORDER BY n.nspname, c.relname`)
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	type object struct {
		schema   string
		name     string
		sequence bool
	}
	objects, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (object, error) {
		var o object
		scanErr := row.Scan(&o.schema, &o.name, &o.sequence)
		return o, scanErr
	})
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	grantee := pgx.Identifier{role}.Sanitize()
	stmts := []string{"GRANT USAGE ON SCHEMA public TO " + grantee}
	// River's schema exists once the job queue is migrated.
	if slices.ContainsFunc(objects, func(o object) bool { return o.schema == "river" }) {
		stmts = append(stmts, "GRANT USAGE ON SCHEMA river TO "+grantee)
	}
	for _, o := range objects {
		name := pgx.Identifier{o.schema, o.name}.Sanitize()
		isVersion := o.schema == "public" && (strings.HasPrefix(o.name, "goose_db_version"))
		switch {
		case isVersion && o.sequence:
			// goose's own; the app never writes version tables.
		case isVersion:
			stmts = append(stmts, "GRANT SELECT ON TABLE "+name+" TO "+grantee)
		case o.sequence:
			stmts = append(stmts, "GRANT USAGE, SELECT ON SEQUENCE "+name+" TO "+grantee)
		case o.schema == "public" && strings.HasSuffix(o.name, "audit_entries"):
			// Audit logs are append-only (see the audit migrations).
			stmts = append(stmts, "GRANT SELECT, INSERT ON TABLE "+name+" TO "+grantee)
		default:
			stmts = append(stmts, "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "+name+" TO "+grantee)
		}
	}
	batch := &pgx.Batch{}
	for _, stmt := range stmts {
		batch.Queue(stmt)
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("grant %s access: %w", role, err)
	}
	return nil
}
