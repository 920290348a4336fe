#!/usr/bin/env bash
# Reads `go test -bench -benchmem` output on stdin and prints it as a Markdown table, the form
# docs/benchmarks.md uses. Lines that are not benchmark results are passed to stderr.
set -euo pipefail
awk '
  /^pkg: / { pkg = $2; next }
  /^Benchmark/ {
    if (!header) {
      print "| package | benchmark | iterations | ns/op | B/op | allocs/op | other |"
      print "|---|---|---:|---:|---:|---:|---|"
      header = 1
    }
    name = $1; sub(/-[0-9]+$/, "", name)
    nsop = ""; bop = ""; allocs = ""; other = ""
    for (i = 3; i < NF; i += 2) {
      if ($(i+1) == "ns/op") nsop = $i
      else if ($(i+1) == "B/op") bop = $i
      else if ($(i+1) == "allocs/op") allocs = $i
      else other = other $i " " $(i+1) " "
    }
    short = pkg; sub(/^github.com\/kizuna-dev\/kizuna\//, "", short)
    printf "| %s | %s | %s | %s | %s | %s | %s|\n", short, name, $2, nsop, bop, allocs, other
    next
  }
  { print > "/dev/stderr" }
  END { if (!header) print "no benchmarks ran" > "/dev/stderr" }
'
