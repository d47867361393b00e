# syntax=docker/dockerfile:1
#
# leo-exporter container image.
#
#   make image                  # = docker build with VERSION (from the git tags) and REVISION set
#   docker build -t leo-exporter:1.2.3 --build-arg VERSION=1.2.3 \
#       --build-arg REVISION="$(git rev-parse HEAD)" --build-arg SOURCE_URL="$(git remote get-url origin)" .
#   docker run --rm -p 9819:9819 leo-exporter:1.2.3                                  # simulator demo
#   docker run --rm -p 9819:9819 --read-only \
#       -v "$PWD/config.yml:/etc/leo-exporter/config.yml:ro" -e STARLINK_SECRET leo-exporter:1.2.3
#
# The build context has no .git, so VERSION and REVISION are what `leo-exporter --version`, the
# build_info metric and the labels report (0.0.0+unknown / unknown when not given).
#
# Runs as a numeric non-root user, writes nothing to its filesystem (bytecode is compiled here,
# PYTHONDONTWRITEBYTECODE stops Python from writing more), so `--read-only` and Kubernetes'
# readOnlyRootFilesystem work. With /etc/leo-exporter/config.yml mounted it polls the accounts
# in it; without, it runs the built-in simulator and says so in its log.
#
# CI builds and runs this file unchanged with podman on a local Debian base passed as
# PYTHON_IMAGE (scripts/container-test.sh, tests/test_container.py).

# Pinned to a patch release; add `@sha256:<digest>` for a byte-for-byte reproducible base.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG VERSION=0.0.0+unknown
ARG REVISION=unknown

# ---------------------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build
ARG VERSION
ARG REVISION
# setuptools-scm takes the version (and the revision, as git's `g<commit>` node) from these.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SETUPTOOLS_SCM_PRETEND_VERSION_FOR_LEO_EXPORTER=${VERSION} \
    SETUPTOOLS_SCM_PRETEND_METADATA_FOR_LEO_EXPORTER="{node=\"g${REVISION}\"}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY leo_exporter/ leo_exporter/
# The wheel, installed with its dependencies into a virtual environment that is copied whole
# into the runtime stage; pip itself is not needed there. Bytecode is compiled once, unchecked
# against source timestamps, so the read-only image never recompiles. With the `ha` extra
# (kubernetes_asyncio), so the same image runs the HA overlay's shard leases.
RUN python -m venv /opt/leo-exporter \
    && python -m pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/leo-exporter/bin/python -m pip install --no-compile "$(ls /wheels/leo_exporter-*.whl)[ha]" \
    && /opt/leo-exporter/bin/python -m pip uninstall --yes pip \
    && /opt/leo-exporter/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/leo-exporter/lib \
    && /opt/leo-exporter/bin/leo-exporter --version

# ---------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}
ARG VERSION
ARG REVISION
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="leo-exporter" \
      org.opencontainers.image.description="Prometheus exporter for fleets of LEO satellite terminals (Starlink, Kognitive, OneWeb)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"
ENV PATH="/opt/leo-exporter/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEO_EXPORTER_REVISION="${REVISION}"
COPY --from=build /opt/leo-exporter /opt/leo-exporter
WORKDIR /
# 65532: the conventional "nonroot" id; numeric so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 9819
ENTRYPOINT ["/opt/leo-exporter/bin/leo-exporter", "--config.default-file=/etc/leo-exporter/config.yml"]
