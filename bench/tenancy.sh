#!/usr/bin/env bash
# Runs the generated app's tenancy benchmarks for each mode, one after the
# other (they share the machine's two cores with nothing else): provisioning
# a tenant, migrating 1,000 schemas, and the list endpoint with few and many
# tenants. Prints the load average before each, as RESULTS.md records it.
# Needs TEST_DATABASE_URL (a Postgres user that may create databases, schemas
# and roles). Takes about ten minutes, most of it creating 10,000 schemas.
# Usage: TEST_DATABASE_URL=... bench/tenancy.sh
set -euo pipefail
: "${TEST_DATABASE_URL:?set TEST_DATABASE_URL}"
cd "$(dirname "$0")/.."
echo "commit $(git rev-parse --short HEAD)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/saaskit" ./cmd/saaskit
load() { cut -d' ' -f1-3 /proc/loadavg; }
for mode in schema row database; do
	"$work/saaskit" new "$work/t-$mode" --yes --no-git --tenancy "$mode" --broker postgres \
		--billing none --realtime none >/dev/null 2>&1
done
for mode in schema row database; do
	echo "== $mode: BenchmarkCreateTenant (load $(load))"
	(cd "$work/t-$mode" && go test ./internal/postgres -run '^$' -bench BenchmarkCreateTenant -benchtime 50x)
done
echo "== schema: BenchmarkMigrate1000Schemas (load $(load))"
(cd "$work/t-schema" && go test ./internal/postgres -run '^$' -bench BenchmarkMigrate1000Schemas -benchtime 3x -timeout 30m)
for mode in row database schema; do
	echo "== $mode: BenchmarkListProjects (load $(load))"
	(cd "$work/t-$mode" && go test ./internal/httpapi -run '^$' -bench BenchmarkListProjects -benchtime 5s -timeout 30m)
done
echo "load at the end: $(load)"
