#!/usr/bin/env bash
# Vendors swagger-ui-dist VERSION, the generated app's docs viewer, into
# templates/app/internal/httpapi/docsui: fetches the npm tarball with
# `npm pack`, checks it against the registry's sha512 integrity, copies the
# files the app serves and their license unchanged, and rewrites the
# manifest (name, version, integrity, each file's sha256).
# Usage: scripts/update-docs-viewer.sh 5.35.0
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: $0 VERSION}
pkg=swagger-ui-dist
files=(LICENSE NOTICE swagger-ui-bundle.js swagger-ui.css)
dest=templates/app/internal/httpapi/docsui

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

integrity=$(npm view "$pkg@$version" dist.integrity)
case $integrity in
sha512-*) ;;
*) echo "$pkg@$version: no sha512 integrity in the registry" >&2; exit 1 ;;
esac
tarball=$(cd "$work" && npm pack --silent "$pkg@$version")
got="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
if [ "$got" != "$integrity" ]; then
	echo "$tarball: integrity $got, the registry says $integrity" >&2
	exit 1
fi
tar -xzf "$work/$tarball" -C "$work"

rm -rf "$dest/swagger-ui"
mkdir -p "$dest/swagger-ui"
{
	printf '{\n  "name": "%s",\n  "version": "%s",\n  "integrity": "%s",\n  "files": {\n' "$pkg" "$version" "$integrity"
	for i in "${!files[@]}"; do
		f=${files[$i]}
		cp "$work/package/$f" "$dest/swagger-ui/$f"
		sep=,
		[ "$i" -eq $((${#files[@]} - 1)) ] && sep=
		printf '    "%s": "%s"%s\n' "$f" "$(sha256sum "$dest/swagger-ui/$f" | cut -d' ' -f1)" "$sep"
	done
	printf '  }\n}\n'
} >"$dest/manifest.json"
echo "vendored $pkg@$version; now: go test ./internal/kit -run TestGolden -update" >&2
