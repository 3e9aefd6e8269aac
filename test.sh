#!/usr/bin/env bash
# The full test suite: formatting, go vet, a pure-Go (CGO_ENABLED=0) build,
# every test with the race detector and every benchmark once (so they keep
# working), both against real PostgreSQL and Vault servers.
#
#   ./test.sh
#
# It needs Go (with cgo, for -race). When PostgreSQL's server binaries are
# installed (Debian: apt-get install postgresql), a throwaway cluster is
# started on 127.0.0.1 for the PostgreSQL tests and stopped afterwards;
# without them those tests skip and say so.
#
# The first run builds Vault from source unless a vault binary is given
# (VAULT_BIN) or on PATH. That takes, on a 2-core machine, about 12 minutes,
# about 0.5 GB for the binary, about 4 GB of Go module cache and 4-5 GB of
# Go build cache (both reused by later runs and other checkouts), and a few
# GB of memory while linking. Later runs reuse the cached binary.
set -euo pipefail
cd "$(dirname "$0")"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

# The core module, then every other module of this repository (the cloud KMS
# backends live in their own modules so that importing pii does not bring
# their SDKs), except tools/vault, which only builds the Vault server.
modules=". $(git ls-files '*/go.mod' 2>/dev/null | grep -v '^tools/vault/' | xargs -r -n1 dirname | tr '\n' ' ')"
echo "== modules: $modules"

echo "== go vet"
for m in $modules; do (cd "$m" && go vet ./...); done

echo "== pure Go build (CGO_ENABLED=0: the README promises no cgo)"
for m in $modules; do (cd "$m" && CGO_ENABLED=0 go build ./...); done

echo "== Vault"
# The Vault tests run against a real server: a vault binary from VAULT_BIN or
# PATH, or else the one tools/vault builds from the Go module proxy. It is
# cached in ${XDG_CACHE_HOME:-~/.cache}/fieldcrypt/vault (shared by every
# checkout on the machine), keyed by the Vault version and tools/vault/go.sum.
# A lock makes a second checkout wait for a build in progress instead of
# starting its own, and the binary appears under its final name only once
# complete.
if [ -z "${VAULT_BIN:-}" ] && ! command -v vault >/dev/null 2>&1; then
  version=$(sed -n 's#^require github.com/hashicorp/vault \(v[^ ]*\)$#\1#p' tools/vault/go.mod)
  sum=$(sha256sum tools/vault/go.sum | cut -c1-12)
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/fieldcrypt/vault"
  VAULT_BIN="$cache/vault-$version-$sum"
  if [ ! -x "$VAULT_BIN" ]; then
    mkdir -p "$cache"
    exec 9>"$cache/build.lock"
    if ! flock -n 9; then
      echo "another checkout is building Vault into $cache: waiting for it"
      flock 9
    fi
    if [ ! -x "$VAULT_BIN" ]; then
      echo "building Vault $version from tools/vault (first run only: about 12 minutes on 2 cores,"
      echo "  0.5 GB binary in $cache, about 4 GB of module cache and 4-5 GB of build cache)"
      start=$(date +%s)
      tmp=$(mktemp "$VAULT_BIN.tmp.XXXXXX")
      trap 'rm -f "$tmp"' EXIT
      (cd tools/vault && go build -trimpath -o "$tmp" .)
      mv -f "$tmp" "$VAULT_BIN" # atomic: same directory
      trap - EXIT
      echo "built Vault in $(( $(date +%s) - start ))s"
    fi
    exec 9>&-
  fi
  export VAULT_BIN
fi

echo "== go test -race, then the benchmarks once each (with a throwaway PostgreSQL and Vault; see internal/tools/testenv)"
# Both run inside testenv, so that the PostgreSQL and Vault benchmarks run
# instead of skipping.
export FIELDCRYPT_MODULES="$modules"
go run ./internal/tools/testenv -- sh -c '
  for m in $FIELDCRYPT_MODULES; do
    (cd "$m" && go test -race -count=1 ./...) || exit 1
  done &&
  echo "== benchmarks (one iteration each, to prove they run)" &&
  for m in $FIELDCRYPT_MODULES; do
    { out=$(cd "$m" && go test -run "^$" -bench . -benchtime 1x ./... 2>&1) || { echo "$out"; exit 1; }; }
  done'

echo "== all checks passed"
