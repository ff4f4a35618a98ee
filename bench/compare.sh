#!/usr/bin/env bash
# Measures generated apps beside the performance baselines (pgbench, a naive
# hand-written Go server, Django+DRF) in ONE interleaved run of the baseline
# harness, so that their ratios mean something: the authenticated,
# permission-checked GET /v1/projects?limit=50 of an app per tenancy mode
# against the baselines' authenticated list of 50 rows.
#
# For each mode it generates an app (postgres broker, no billing, no
# realtime), builds it, and seeds a database per tenant count with the app's
# own code: the harness's seeder (saaskit-seed/main.go, built inside the app
# as cmd/benchseed) makes tenants tenant-1..N with PROJECTS projects each,
# the baselines' draw of AUTH_USERS users x AUTH_TENANTS_PER_USER memberships
# (200 x 5 by default) and one session per user. Then it runs the harness (a copy, which also knows
# saaskit-database) with the apps as targets and prints, per mode and
# tenant count, the ratio of the app's median req/s to the Go server's and
# to the better DRF setup's.
#
# Usage, as root on Debian 12 with Postgres on 127.0.0.1:5432 (the harness
# installs wrk, Django and the rest from apt unless SKIP_INSTALL=1):
#
#	bench/compare.sh
#	MODES="schema row" TENANT_COUNTS=100 REPEATS=1 DURATION=10 bench/compare.sh
#
# Settings (environment):
#	BASELINES      the baseline harness (default: ../shared/bench beside the repo)
#	MODES          tenancy modes to measure (default: schema row database)
#	TENANT_COUNTS  tenant counts (default: 100 1000), passed to the harness
#	REPEATS, DURATION, WARMUP, CONNS, SKIP_INSTALL  passed to the harness
#	BASELINE_TARGETS  baseline targets in the run (default: pgbench go drf-sync drf-gthread)
#	PROJECTS       projects per tenant (default: 60)
#	AUTH_USERS, AUTH_TENANTS_PER_USER  the auth draw (default: 200 and 5),
#	               passed to the harness too; the load reaches at most
#	               AUTH_USERS x AUTH_TENANTS_PER_USER distinct tenants, so
#	               10,000 tenants need ~4,000 users to touch most of them
#	TENANT_POOL_CACHE, TENANT_POOL_MAX_CONNS  database mode's tenant pools
#	               (default: the generated defaults, 50 and 2)
#	WORK           where apps, databases' pairs files and the harness copy go
#	               (default: a new directory under /tmp, kept for a look afterwards)
#	STEPS          "seed run" by default; "seed" stops after seeding and "run"
#	               measures what an earlier "seed" left in the same WORK and
#	               databases, so a slow seed (schema mode at 10,000 tenants
#	               takes most of an hour on 2 cores) can be done once, or
#	               while the machine is busy with something else
#
# Rate limits are set far above the load (the limiter still runs on every
# request); everything else is the generated defaults. Databases are
# dropped and re-seeded on every run: perfapp_<mode>_n<N>, and in database
# mode the tenant databases perfdb_n<N>_*.
set -euo pipefail

kit=$(cd "$(dirname "$0")/.." && pwd)
BASELINES=${BASELINES:-$kit/../shared/bench}
[ -x "$BASELINES/run-baselines.sh" ] || { echo "compare.sh: no baseline harness at $BASELINES (set BASELINES)" >&2; exit 1; }
BASELINES=$(cd "$BASELINES" && pwd)
MODES=${MODES:-schema row database}
STEPS=${STEPS:-seed run}
export TENANT_COUNTS=${TENANT_COUNTS:-100 1000}
export AUTH_USERS=${AUTH_USERS:-200} AUTH_TENANTS_PER_USER=${AUTH_TENANTS_PER_USER:-5}
PROJECTS=${PROJECTS:-60}
WORK=${WORK:-$(mktemp -d /tmp/saaskit-compare.XXXXXX)}
mkdir -p "$WORK/bin" "$WORK/pairs"
pgurl() { echo "postgres://$1:$1@127.0.0.1:5432/$2?sslmode=disable"; }
log() { printf '[%s] compare: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres "$@"; }

for mode in $MODES; do
	case $mode in schema | row | database) ;; *) echo "compare.sh: unknown mode $mode (schema, row, database)" >&2; exit 2 ;; esac
done
step() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
step seed || step run || { echo "compare.sh: STEPS must name seed, run or both" >&2; exit 2; }
if ! step seed; then
	for mode in $MODES; do
		for n in $TENANT_COUNTS; do
			[ -s "$WORK/pairs/$mode-n$n.tsv" ] && [ -x "$WORK/bin/run-$mode" ] ||
				{ echo "compare.sh: STEPS=run needs an earlier STEPS=seed in WORK=$WORK for $mode at $n tenants" >&2; exit 2; }
		done
	done
fi

log "work directory $WORK"
step seed && (cd "$kit" && go build -o "$WORK/bin/saaskit" ./cmd/saaskit)

# Roles: perfapp owns the databases (and, in row and schema mode, the
# tables); perfrowapp is row and schema mode's app role, which row-level
# security applies to.
psql_admin <<'SQL'
SELECT 'CREATE ROLE perfapp LOGIN CREATEDB PASSWORD ''perfapp'''
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'perfapp') \gexec
SELECT 'CREATE ROLE perfrowapp LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD ''perfrowapp'''
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'perfrowapp') \gexec
SQL

# The harness starts the apps with this SECRET_KEY (its default); row and
# schema mode seal tenant transactions with a key derived from it, so migrate and the
# seeder need the same one.
secret=${SAASKIT_SECRET_KEY:-perf-secret-0123456789abcdef0123456789abcdef}
export SAASKIT_SECRET_KEY=$secret

for mode in $MODES; do
	step seed || break
	app=$WORK/app-$mode
	rm -rf "$app"
	"$WORK/bin/saaskit" new "$app" --name perfapp --module example.com/perfapp --yes --no-git \
		--tenancy "$mode" --broker postgres --billing none --realtime none >/dev/null
	mkdir -p "$app/cmd/benchseed"
	cp "$BASELINES/saaskit-seed/main.go" "$app/cmd/benchseed/main.go"
	(cd "$app" && go build -o "$WORK/bin/perfapp-$mode" ./cmd/perfapp && go build -o "$WORK/bin/benchseed-$mode" ./cmd/benchseed)
	# The harness starts the app with DATABASE_URL only; the wrapper adds
	# what differs by mode and tenant count.
	cat > "$WORK/bin/run-$mode" <<EOF
#!/bin/sh
n=\${DATABASE_URL##*_n}; n=\${n%%\?*}
export TENANT_DATABASE_PREFIX=perfdb_n\${n}_ TENANT_POOL_CACHE=\${TENANT_POOL_CACHE:-50}
# Schema mode's server creates tenants' schemas as the tables' owner.
export MIGRATE_DATABASE_URL=\$(echo "\$DATABASE_URL" | sed 's#//perfrowapp:perfrowapp@#//perfapp:perfapp@#')
export RATE_LIMIT_IP=1000000/s,1000000 RATE_LIMIT_USER=1000000/s,1000000 RATE_LIMIT_TENANT=1000000/s,1000000
exec "$WORK/bin/perfapp-$mode" "\$@"
EOF
	chmod +x "$WORK/bin/run-$mode"

	for n in $TENANT_COUNTS; do
		database=perfapp_${mode}_n$n
		log "$mode: seeding $database ($n tenants x $PROJECTS projects)"
		psql_admin -c "DROP DATABASE IF EXISTS $database WITH (FORCE)"
		psql_admin -At -c "SELECT datname FROM pg_database WHERE datname LIKE 'perfdb\_n${n}\_%'" |
			while read -r d; do psql_admin -c "DROP DATABASE \"$d\" WITH (FORCE)"; done
		psql_admin -c "CREATE DATABASE $database OWNER perfapp"
		owner=$(pgurl perfapp "$database")
		url=$owner
		[ "$mode" = database ] || url=$(pgurl perfrowapp "$database")
		env DATABASE_URL="$url" MIGRATE_DATABASE_URL="$owner" SECRET_KEY="$secret" \
			TENANT_DATABASE_PREFIX="perfdb_n${n}_" "$WORK/bin/perfapp-$mode" migrate >/dev/null
		python3 "$BASELINES/saaskit-seed/draw_memberships.py" "$n" "$AUTH_USERS" "$AUTH_TENANTS_PER_USER" |
			env DATABASE_URL="$url" MIGRATE_DATABASE_URL="$owner" SECRET_KEY="$secret" TENANT_DATABASE_PREFIX="perfdb_n${n}_" \
				"$WORK/bin/benchseed-$mode" "$n" "$PROJECTS" "$WORK/pairs/$mode-n$n.tsv"
		psql_admin -d "$database" -c "VACUUM ANALYZE" >/dev/null
	done
done

if ! step run; then
	log "seeded; measure with STEPS=run and the same WORK, MODES, TENANT_COUNTS and AUTH_USERS"
	exit 0
fi

# A copy of the harness that also accepts saaskit-database (the same
# handling as saaskit-schema and saaskit-row).
rm -rf "$WORK/harness"
cp -r "$BASELINES" "$WORK/harness"
rm -rf "$WORK/harness/out"
sed -i 's/saaskit-schema|saaskit-row)/saaskit-schema|saaskit-row|saaskit-database)/' "$WORK/harness/run-baselines.sh"

targets=${BASELINE_TARGETS:-pgbench go drf-sync drf-gthread}
port=18090
for mode in $MODES; do
	key=$(tr a-z A-Z <<<"$mode")
	targets="$targets saaskit-$mode"
	user=perfapp
	[ "$mode" = database ] || user=perfrowapp
	export "SAASKIT_${key}_BIN=$WORK/bin/run-$mode" "SAASKIT_${key}_PORT=$port"
	export "SAASKIT_${key}_DB_URL=$(pgurl "$user" "perfapp_${mode}_n{N}")"
	export "SAASKIT_${key}_PAIRS=$WORK/pairs/$mode-n{N}.tsv"
	port=$((port + 1))
done
export TARGETS=$targets VARIANTS=auth KEEP_POSTGRES=1 SAASKIT_PATH='/v1/projects?limit=50'
log "harness: TARGETS=$TARGETS TENANT_COUNTS=$TENANT_COUNTS"
(cd "$WORK/harness" && ./run-baselines.sh)

results=$(ls -td "$WORK"/harness/out/*/ | head -n1)
# Ratios of medians: each app's req/s over the Go server's and the better
# DRF setup's, per tenant count.
python3 - "$results/results.tsv" "$MODES" <<'EOF'
import statistics, sys
rates = {}
for line in open(sys.argv[1]):
    cols = line.rstrip("\n").split("\t")
    if len(cols) < 12 or cols[11] != "auth":
        continue
    rates.setdefault((cols[0], cols[1]), []).append(float(cols[3]))
median = {k: statistics.median(v) for k, v in rates.items()}
for n in sorted({k[0] for k in median}, key=int):
    go = median.get((n, "go-ceiling"))
    drf = max((v for (m, t), v in median.items() if m == n and t.startswith("drf")), default=None)
    for mode in sys.argv[2].split():
        app = median.get((n, "saaskit-" + mode))
        if app is None:
            continue
        if go:
            print(f"ratio saaskit-{mode}/go-ceiling {app / go:.2f} tenants={n}")
        if drf:
            print(f"ratio saaskit-{mode}/drf {app / drf:.2f} tenants={n}")
EOF
echo "raw results: $results"
