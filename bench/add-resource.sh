#!/usr/bin/env bash
# Times the whole `saaskit add resource` process (record change, render of
# both sides with sqlc, three-way merge, atomic writes, git status) in a
# generated, committed repository, over N runs; prints min/median/max in ms.
# Each run adds the resource to a fresh copy of the same repository.
# Usage: bench/add-resource.sh [runs]   (default 10 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/saaskit" ./cmd/saaskit
"$work/saaskit" new "$work/app" --yes --no-git --tenancy row >/dev/null 2>&1
(cd "$work/app" && git init -q && git add -A && git -c user.name=b -c user.email=b@b commit -qm generated)
fields='number:string!unique amount_cents:int64 due_at:time? status:enum(draft|open|paid)=draft'
times=()
for i in $(seq 1 "$runs"); do
	cp -a "$work/app" "$work/app-$i"
	start=$(date +%s%N)
	"$work/saaskit" add resource invoices -C "$work/app-$i" --fields "$fields" >/dev/null 2>&1
	end=$(date +%s%N)
	times+=("$(( (end - start) / 1000000 ))")
	rm -rf "$work/app-$i"
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
n=${#sorted[@]}
echo "saaskit add resource invoices, $n runs: min ${sorted[0]} ms, median ${sorted[$((n / 2))]} ms, max ${sorted[$((n - 1))]} ms"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
