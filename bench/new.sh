#!/usr/bin/env bash
# Times the whole `saaskit new` process (flag parsing, render with sqlc,
# atomic write; no git) over N runs and prints min/median/max in ms.
# Usage: bench/new.sh [runs] [git-ref]   (default 20 runs)
# With a git ref, the saaskit of that ref is built too and the two binaries
# run alternately in one run, so both see the same machine load: a
# before/after comparison that does not depend on what else was running.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
ref=${2:-}
work=$(mktemp -d)
cleanup() {
	[ -n "$ref" ] && git worktree remove --force "$work/ref" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/saaskit-HEAD" ./cmd/saaskit
targets=(HEAD)
if [ -n "$ref" ]; then
	git worktree add --quiet --detach "$work/ref" "$ref"
	(cd "$work/ref" && go build -o "$work/saaskit-ref" ./cmd/saaskit)
	targets=(ref HEAD)
fi
declare -A times
for i in $(seq 1 "$runs"); do
	for t in "${targets[@]}"; do
		start=$(date +%s%N)
		"$work/saaskit-$t" new "$work/app-${t,,}-$i" --yes --no-git >/dev/null 2>&1
		end=$(date +%s%N)
		times[$t]+="$(( (end - start) / 1000000 )) "
	done
done
for t in "${targets[@]}"; do
	name=$t
	[ "$t" = ref ] && name=$ref
	sorted=($(printf '%s\n' ${times[$t]} | sort -n))
	n=${#sorted[@]}
	echo "$name: saaskit new --yes --no-git, $n runs: min ${sorted[0]} ms, median ${sorted[$((n / 2))]} ms, max ${sorted[$((n - 1))]} ms"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
