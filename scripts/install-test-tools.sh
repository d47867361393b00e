#!/usr/bin/env bash
# Installs the external tools the test suite drives for real (promtool, amtool, Prometheus,
# Alertmanager, Chromium, and podman/runc/debootstrap for the container image). Debian packages;
# needs root (as in CI). Does nothing when they are present.
set -euo pipefail
needed=()
command -v promtool >/dev/null 2>&1 || needed+=(prometheus)
command -v amtool >/dev/null 2>&1 || needed+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || needed+=(chromium)  # the status page's browser test
command -v podman >/dev/null 2>&1 || needed+=(podman)      # scripts/container-test.sh builds and runs the image
command -v runc >/dev/null 2>&1 || needed+=(runc)
command -v debootstrap >/dev/null 2>&1 || needed+=(debootstrap)
if [ ${#needed[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-tools: missing ${needed[*]}; run as root or install them (apt-get install ${needed[*]})" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
# The Debian packages start their services; the tests start their own on loopback.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
  (systemctl stop "$svc" || service "$svc" stop) >/dev/null 2>&1 || true
done
