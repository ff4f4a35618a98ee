#!/usr/bin/env bash
# Times the whole `saaskit new` process (flag parsing, render with sqlc,
# atomic write; no git) over N runs and prints min/median/max in ms.
# Usage: bench/new.sh [runs]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/saaskit" ./cmd/saaskit
times=()
for i in $(seq 1 "$runs"); do
	start=$(date +%s%N)
	"$work/saaskit" new "$work/app$i" --yes --no-git >/dev/null 2>&1
	end=$(date +%s%N)
	times+=($(( (end - start) / 1000000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
n=${#sorted[@]}
echo "saaskit new --yes --no-git, $n runs: min ${sorted[0]} ms, median ${sorted[$((n / 2))]} ms, max ${sorted[$((n - 1))]} ms"
