#!/usr/bin/env bash
# Builds the container image from the project's unchanged Dockerfile with Debian's podman, on a
# machine without a Docker engine or access to an image registry (this project's CI):
#
#   scripts/container-image.sh TAG [extra `podman build` arguments, e.g. --build-arg VERSION=1.2.3]
#
# The Dockerfile's base (`ARG PYTHON_IMAGE`) is replaced by a local one: a Debian root made with
# `debootstrap --variant=minbase` from the archive apt already uses, with Debian's Python 3.11,
# imported with `podman import`. That root is cached under $LEO_CONTAINER_CACHE (default
# /var/cache/leo-exporter) and in podman's own storage, so only the first run on a machine pays
# for it (about a minute). Users with Docker build the same Dockerfile on python:3.11-slim.
#
# Source scripts/container-image.sh to get the functions and CONTAINERS_CONF without building.
# Needs root (rootful podman; as CI runs). Installs podman, runc and debootstrap when missing.
set -euo pipefail

LEO_CONTAINER_CACHE=${LEO_CONTAINER_CACHE:-/var/cache/leo-exporter}
LEO_BASE_SUITE=${LEO_BASE_SUITE:-bookworm}
LEO_BASE_PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates

log() { echo "container: $*" >&2; }

# The Debian archive apt uses on this machine (so a mirror or proxy set up for apt applies too).
debian_mirror() {
  local uri
  uri=$(apt-get indextargets --format '$(RELEASE) $(REPO_URI)' 'Created-By: Packages' 2>/dev/null |
    awk -v suite="$LEO_BASE_SUITE" '$1 == suite && !found { print $2; found = 1 }' || true)  # reads all: no SIGPIPE
  echo "${LEO_DEBIAN_MIRROR:-${uri:-http://deb.debian.org/debian/}}"
}

ensure_tools() {
  local needed=()
  command -v podman >/dev/null 2>&1 || needed+=(podman)
  command -v runc >/dev/null 2>&1 || needed+=(runc)
  command -v debootstrap >/dev/null 2>&1 || needed+=(debootstrap)
  [ ${#needed[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing ${needed[*]}: run as root, or apt-get install ${needed[*]}"
    return 1
  fi
  log "installing ${needed[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
}

# podman's settings for this host kind: runc (crun refuses hybrid cgroups), cgroupfs (no systemd
# session), and no default ulimits (the sandbox may not raise RLIMIT_NOFILE/NPROC).
podman_config() {
  mkdir -p "$LEO_CONTAINER_CACHE"
  cat >"$LEO_CONTAINER_CACHE/containers.conf" <<'EOF'
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
EOF
  export CONTAINERS_CONF="$LEO_CONTAINER_CACHE/containers.conf"
}

# Prints the local base image's name, making it first if neither podman nor the cache has it.
ensure_base() {
  local mirror key tag tarball root
  mirror=$(debian_mirror)
  key=$(printf '%s\n' "$LEO_BASE_SUITE" "$mirror" "$LEO_BASE_PACKAGES" "v1" | sha256sum | cut -c1-12)
  tag="localhost/leo-exporter-base:$LEO_BASE_SUITE-$key"
  tarball="$LEO_CONTAINER_CACHE/base-$LEO_BASE_SUITE-$key.tar"
  exec 9>"$LEO_CONTAINER_CACHE/base.lock"
  flock 9  # one base build at a time on a machine
  if ! podman image exists "$tag"; then
    if [ ! -s "$tarball" ]; then
      root=$(mktemp -d "$LEO_CONTAINER_CACHE/root.XXXXXX")
      log "debootstrap $LEO_BASE_SUITE from $mirror (cached afterwards in $tarball)"
      if ! debootstrap --variant=minbase --include="$LEO_BASE_PACKAGES" "$LEO_BASE_SUITE" "$root" "$mirror" \
        >"$root.log" 2>&1; then
        tail -n 20 "$root.log" >&2
        rm -rf "$root"
        return 1
      fi
      # what an image needs no copy of: package lists and downloads, documentation, locales
      rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc \
        "$root"/usr/share/man "$root"/usr/share/info "$root"/usr/share/locale "$root.log"
      tar -C "$root" --numeric-owner -cf "$tarball.part" .
      mv "$tarball.part" "$tarball"
      rm -rf "$root"
    fi
    podman import --quiet "$tarball" "$tag" >/dev/null
  fi
  flock -u 9
  echo "$tag"
}

# build_image TAG [podman build args...]: the Dockerfile, on the local base, with host networking
# for pip and this machine's certificates (so pip trusts whatever TLS setup the host has).
build_image() {
  local tag=$1 base
  shift
  base=$(ensure_base)
  podman build --quiet --isolation chroot --network=host -v /etc/ssl/certs:/etc/ssl/certs:ro \
    --build-arg PYTHON_IMAGE="$base" --tag "$tag" "$@" . >/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  [ $# -ge 1 ] || { echo "usage: $0 TAG [podman build args...]" >&2; exit 2; }
  cd "$(dirname "$0")/.."
  ensure_tools
  podman_config
  build_image "$@"
  log "built $1 ($(podman image inspect "$1" --format '{{.Size}}') bytes)"
fi
