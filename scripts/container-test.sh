#!/usr/bin/env bash
# The container image, built and run for real (CI runs this through tests/test_container.py):
#
#   scripts/container-test.sh
#
# Builds the image from the unchanged Dockerfile (scripts/container-image.sh), starts the
# provider simulator on the host (127.0.0.1), then runs the image as users run it in production:
# `--read-only`, its own user, the simulator's exporter config mounted read-only at
# /etc/leo-exporter/config.yml, host networking. It checks that
#   - /metrics serves every simulated terminal of every provider,
#   - the version (from git, passed as VERSION/REVISION) is in the startup log and build_info,
#   - the process runs as uid 65532,
#   - nothing was written inside the container (`podman diff` shows only the mount point),
#   - SIGTERM stops it in under 5 s with exit code 0,
# and reports the image's size. Exit 0 when every check passed; the last line sums up.
# Needs root and the project's virtual environment (`make install`) for the simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/container-image.sh
source scripts/container-image.sh

PYTHON=${PYTHON:-.venv/bin/python}
TAG=${LEO_TEST_IMAGE:-localhost/leo-exporter:container-test}
NAME=leo-exporter-test-$$
MAX_STOP_SECONDS=5
work=$(mktemp -d)
sim_pid=""

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
fail() { log "FAILED: $*"; exit 1; }
free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cleanup() {
  podman rm --force --time 0 "$NAME" >/dev/null 2>&1 || true
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

ensure_tools
podman_config

# the version and revision as `make release` builds them, to check they reach the log and build_info
version=$("$PYTHON" -m setuptools_scm)
revision=$(git rev-parse HEAD)
started=$EPOCHREALTIME
build_image "$TAG" --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
build_seconds=$(since "$started")
size=$(podman image inspect "$TAG" --format '{{.Size}}')
log "image $TAG built in ${build_seconds%.*} s: $((size / 1000000)) MB"

# the simulator on the host, and the exporter config it hands out
sim_port=$(free_port)
"$PYTHON" -m leo_exporter simulator --web.listen-address "127.0.0.1:$sim_port" >"$work/simulator.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$sim_port/exporter-config.yml" -o "$work/config.yml" 2>/dev/null && break
  sleep 0.1
done
[ -s "$work/config.yml" ] || fail "simulator did not start: $(cat "$work/simulator.log")"
chmod a+r "$work/config.yml"

port=$(free_port)
podman --runtime runc run --detach --name "$NAME" --read-only --network host \
  --volume "$work/config.yml:/etc/leo-exporter/config.yml:ro" \
  "$TAG" --web.listen-address "127.0.0.1:$port" >/dev/null
started=$EPOCHREALTIME

# /metrics serves the simulated fleet: every terminal of every provider, as the simulator counts them
"$PYTHON" scripts/container_fleet_check.py "http://127.0.0.1:$port/metrics" "http://127.0.0.1:$sim_port" 60 ||
  fail "the fleet is not served; container log:
$(podman logs "$NAME" 2>&1 | tail -n 30)"
ready_seconds=$(since "$started")

# the version: in the startup log line and in leo_exporter_build_info (read whole before grep -q,
# whose early exit would otherwise fail the pipeline under pipefail)
logs=$(podman logs "$NAME" 2>&1)
grep -qF "msg=\"starting leo-exporter\" version=\"(version=$version, " <<<"$logs" ||
  fail "no startup log line with version $version: $(head -n 3 <<<"$logs")"
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
grep -qF "leo_exporter_build_info{version=\"$version\",revision=\"$revision\"," <<<"$metrics" ||
  fail "leo_exporter_build_info does not say version $version, revision $revision"

# its own user: the container's process, seen from the host (rootful podman maps no ids)
pid=$(podman inspect "$NAME" --format '{{.State.Pid}}')
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
[ "$uids" = "65532 65532 65532 65532" ] || fail "process runs as uid $uids, not 65532"

# nothing written: the only change is the mount point podman itself created for the config
unexpected=$(podman diff "$NAME" | grep -vxE '(C|A) /etc|A /etc/leo-exporter|A /etc/leo-exporter/config.yml' || true)
[ -z "$unexpected" ] || fail "the container wrote to its filesystem: $unexpected"

started=$EPOCHREALTIME
podman stop --time 10 "$NAME" >/dev/null
stop_seconds=$(since "$started")
code=$(podman inspect "$NAME" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
awk -v s="$stop_seconds" -v max="$MAX_STOP_SECONDS" 'BEGIN { exit !(s < max) }' || fail "SIGTERM took $stop_seconds s (limit $MAX_STOP_SECONDS s)"
logs=$(podman logs "$NAME" 2>&1)
if grep -q 'Traceback' <<<"$logs"; then fail "traceback in the log: $(tail -n 30 <<<"$logs")"; fi

printf 'container-test: ok: image %s (version %s), %d MB, built in %.0f s; fleet served %.1f s after start; uid 65532; read-only, nothing written; SIGTERM exit 0 in %.2f s\n' \
  "$TAG" "$version" $((size / 1000000)) "$build_seconds" "$ready_seconds" "$stop_seconds"
