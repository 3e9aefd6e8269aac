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

echo "== go test -race (with a throwaway PostgreSQL when its server binaries are installed)"
go run ./internal/tools/testpg -- go test -race -count=1 ./...

echo "== benchmarks (one iteration each, to prove they run)"
go test -run '^$' -bench . -benchtime 1x ./... > /dev/null

echo "== all checks passed"
