#!/usr/bin/env bash
# The full test suite: formatting, go vet, every test with the race detector,
# every benchmark once (so they keep working), and the quickstart.
#
#   ./test.sh
#
# It needs only Go (with cgo, for -race). Tests that need a server start it
# themselves on 127.0.0.1 and stop it.
set -euo pipefail
cd "$(dirname "$0")"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 ./...

echo "== benchmarks (one iteration each, to prove they run)"
go test -run '^$' -bench . -benchtime 1x ./... > /dev/null

echo "== all checks passed"
