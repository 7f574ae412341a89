#!/usr/bin/env bash
# Build Jaeger v2 (all-in-one) from its Go module into ~/.cache/obskit/bin/jaeger.
# github.com/jaegertracing/jaeger v1.75.0 (Jaeger v2.12.0) is the newest release the Go module
# proxy here marks as approved (v1.76.0 is served but not approved). Its go.mod
# has a `replace`, so `go install pkg@version` refuses it: download the module, copy it
# somewhere writable and build ./cmd/jaeger inside it. Skipped when the binary is cached.
set -euo pipefail
version="${JAEGER_MODULE_VERSION:-v1.75.0}"
cache="${OBSKIT_CACHE:-$HOME/.cache/obskit}"
out="$cache/bin/jaeger"
stamp="$out.module-version"
# A binary cached by an older script (another module version) is rebuilt.
if [ -x "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ] && "$out" version >/dev/null 2>&1; then
  echo "jaeger: cached at $out ($version)"
  exit 0
fi
command -v go >/dev/null || { echo "jaeger: Go toolchain not found" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
mkdir -p "$cache/bin"
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
echo "jaeger: downloading github.com/jaegertracing/jaeger@$version"
dir=$(go mod download -json "github.com/jaegertracing/jaeger@$version" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$dir" src && chmod -R u+w src
cd src
echo "jaeger: building ./cmd/jaeger (a few minutes on 2 cores)"
go build -trimpath -o "$out.tmp" ./cmd/jaeger
mv "$out.tmp" "$out"
echo "$version" > "$stamp"
echo "jaeger: built $out"
