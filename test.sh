#!/usr/bin/env bash
# The full test suite: formatting, go vet, every test with the race detector,
# every benchmark once (so they keep working), and the quickstart.
#
#   ./test.sh
#
# It needs Go (with cgo, for -race). When PostgreSQL's server binaries are
# installed (Debian: apt-get install postgresql), a throwaway cluster is
# started on 127.0.0.1 for the PostgreSQL tests and stopped afterwards;
# without them those tests skip and say so.
set -euo pipefail
cd "$(dirname "$0")"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== Vault"
# The Vault tests run against a real server: a vault binary from VAULT_BIN or
# PATH, or else the one tools/vault builds from the Go module proxy. The first
# build downloads and compiles Vault: many minutes on 2 cores. It is cached in
# ${XDG_CACHE_HOME:-~/.cache}/fieldcrypt/vault (shared by every checkout on
# the machine), keyed by the Vault version and tools/vault/go.sum.
if [ -z "${VAULT_BIN:-}" ] && ! command -v vault >/dev/null 2>&1; then
  version=$(sed -n 's#^require github.com/hashicorp/vault \(v[^ ]*\)$#\1#p' tools/vault/go.mod)
  sum=$(sha256sum tools/vault/go.sum | cut -c1-12)
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/fieldcrypt/vault"
  VAULT_BIN="$cache/vault-$version-$sum"
  if [ ! -x "$VAULT_BIN" ]; then
    echo "building Vault $version from tools/vault (first run only: many minutes; cached in $cache)"
    start=$(date +%s)
    (cd tools/vault && go build -trimpath -o "$VAULT_BIN" .)
    echo "built Vault in $(( $(date +%s) - start ))s"
  fi
  export VAULT_BIN
fi

echo "== go test -race (with a throwaway PostgreSQL and Vault; see internal/tools/testenv)"
go run ./internal/tools/testenv -- go test -race -count=1 ./...

echo "== benchmarks (one iteration each, to prove they run)"
go test -run '^$' -bench . -benchtime 1x ./... > /dev/null

echo "== all checks passed"
