#!/usr/bin/env bash
# Prints the machine and build a benchmark ran on, as "key: value" lines (the
# Go benchmark format's configuration syntax), for results/*/env.txt.
# GOMAXPROCS is asked of the Go runtime itself, since Go 1.25 its
# default follows the cgroup CPU limit and may be less than nproc.
set -euo pipefail
cd "$(dirname "$0")/.."
# Read-only git calls must not take the index lock from a concurrent git.
export GIT_OPTIONAL_LOCKS=0

first() { # first line of a command's output, or "unknown"
  local out
  out=$("$@" 2>/dev/null | head -n 1) || true
  echo "${out:-unknown}"
}

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if git rev-parse --git-dir >/dev/null 2>&1; then
  echo "commit: $(git rev-parse HEAD)"
  echo "commit-short: $(git rev-parse --short HEAD)"
  if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
    echo "dirty: true"
  else
    echo "dirty: false"
  fi
else
  echo "commit: unknown (not a git checkout)"
fi
echo "go-version: $(go env GOVERSION)"
echo "goos: $(go env GOOS)"
echo "goarch: $(go env GOARCH)"
echo "cpu-model: $(first sh -c "grep -m1 -E '^(model name|Hardware|Processor)' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'")"
echo "cores: $(nproc) (online: $(nproc --all))"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/main.go" <<'EOF'
package main

import (
	"fmt"
	"runtime"
)

func main() { fmt.Println(runtime.GOMAXPROCS(0)) }
EOF
echo "gomaxprocs: $(cd "$tmp" && GO111MODULE=on GOFLAGS='' first go run main.go) (GOMAXPROCS env: ${GOMAXPROCS:-unset})"
if [[ -r /sys/fs/cgroup/cpu.max ]]; then
  echo "cgroup-cpu-max: $(cat /sys/fs/cgroup/cpu.max)"
fi
echo "kernel: $(uname -a)"
echo "memory: $(first sh -c "grep -m1 MemTotal /proc/meminfo | awk '{printf \"%.1f GiB\", \$2/1048576}'")"
echo "loadavg: $(first cat /proc/loadavg)"
