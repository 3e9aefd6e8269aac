#!/usr/bin/env bash
# Runs the core benchmarks in COUNT interleaved passes (default 8) and prints, from the
# medians, each result as a ratio against the raw-Tink baseline measured in
# the same run. The machines are shared and noisy: compare ratios, not
# nanoseconds, and interleave (-count) rather than run one long pass.
#
#   bench/run.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-8}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: nproc=$(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3)"
echo "command: bench/run.sh $count  ($count interleaved passes of: bench.test -test.run '^\$' -test.bench '^Benchmark(Seal|Open|SealCold|TinkBaseline|AESBlock|FF1|FF1Numerals|TokenFormat)$' -test.benchmem)"
echo
# One binary, whole passes interleaved: every benchmark of a pass sees the
# same machine conditions as its baseline.
bin=$(mktemp)
trap 'rm -f "$out" "$bin"' EXIT
go test -c -o "$bin" ./bench
for _ in $(seq "$count"); do
  (cd bench && "$bin" -test.run '^$' -test.bench '^Benchmark(Seal|Open|SealCold|TinkBaseline|AESBlock|FF1|FF1Numerals|TokenFormat)$' -test.benchmem) >> "$out"
done

awk '
/^Benchmark/ {
  name = $1; sub(/-[0-9]+$/, "", name)
  n[name]++; ns[name, n[name]] = $3
  for (i = 4; i <= NF; i++) { if ($(i+1) == "allocs/op") allocs[name] = $i; if ($(i+1) == "B/op") bytes[name] = $i }
}
function median(name,   k, i, j, t, a) {
  k = n[name]; for (i = 1; i <= k; i++) a[i] = ns[name, i]
  for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
END {
  printf "%-36s %12s %8s %8s %10s\n", "benchmark (median of runs)", "ns/op", "B/op", "allocs", "vs Tink"
  split("1 6 24", fs, " ")
  for (f = 1; f <= 3; f++) {
    split("Seal:encrypt Open:decrypt", ops, " ")
    for (o = 1; o <= 2; o++) {
      split(ops[o], pair, ":")
      ours = "Benchmark" pair[1] "/fields=" fs[f]
      base = "BenchmarkTinkBaseline/" pair[2] "/fields=" fs[f]
      if (!(ours in n) || !(base in n)) continue
      mo = median(ours); mb = median(base)
      printf "%-36s %12.0f %8s %8s %10s\n", base, mb, bytes[base], allocs[base], "1.00x"
      printf "%-36s %12.0f %8s %8s %9.2fx\n", ours, mo, bytes[ours], allocs[ours], mo / mb
      printf "%-36s %12s %8s %8.2f\n", "  allocs per field beyond Tink", "", "", (allocs[ours] - allocs[base]) / fs[f]
    }
  }
  for (name in n) if (name ~ /SealCold/) printf "%-36s %12.0f %8s %8s\n", name, median(name), bytes[name], allocs[name]
  if ("BenchmarkAESBlock" in n) {
    aes = median("BenchmarkAESBlock")
    printf "\n%-44s %10s %8s %8s %14s\n", "FF1 and tokens (median of runs)", "ns/op", "B/op", "allocs", "vs 11 AES-128"
    printf "%-44s %10.1f %8s %8s %14s\n", "BenchmarkAESBlock (one block, the floor)", aes, "0", "0", ""
    k = 0
    for (name in n) if (name ~ /FF1|TokenFormat/) names[++k] = name
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (names[j] < names[i]) { t = names[i]; names[i] = names[j]; names[j] = t }
    for (i = 1; i <= k; i++) printf "%-44s %10.0f %8s %8s %13.2fx\n", names[i], median(names[i]), bytes[names[i]], allocs[names[i]], median(names[i]) / (11 * aes)
  }
}' "$out"
