# Sourced by the scripts that run a compose cluster (cluster-test.sh,
# faults.sh, scripts/loadgen-compare.sh).

# find_compose NAME sets the array compose to `docker compose` or, where
# that is missing, `docker-compose`; it fails naming NAME if neither exists.
find_compose() {
  if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
  elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
  else
    echo "$1: neither 'docker compose' nor docker-compose is installed" >&2
    return 1
  fi
}

# compose_teardown NAME TAIL, called from an EXIT trap with the script's
# status in rc: prints the last TAIL lines of the containers' logs when rc
# is not 0, then removes the project (dc) and the directory in $work.
compose_teardown() {
  if [[ $rc -ne 0 ]]; then
    echo "$1: FAILED; last lines of the containers' logs:" >&2
    dc logs --no-color --tail "$2" >&2 || true
  fi
  dc down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
  rm -rf "$work"
}
