# syntax=docker/dockerfile:1
#
# leo-exporter container image.
#
#   docker build -t leo-exporter:0.1.0 --build-arg VERSION=0.1.0 \
#       --build-arg REVISION="$(git rev-parse HEAD)" --build-arg SOURCE_URL="$(git remote get-url origin)" .
#   docker run --rm -p 9819:9819 leo-exporter:0.1.0                                  # simulator demo
#   docker run --rm -p 9819:9819 --read-only \
#       -v "$PWD/config.yml:/etc/leo-exporter/config.yml:ro" -e STARLINK_SECRET leo-exporter:0.1.0
#
# Runs as a numeric non-root user, writes nothing to its filesystem (bytecode is compiled here,
# PYTHONDONTWRITEBYTECODE stops Python from writing more), so `--read-only` and Kubernetes'
# readOnlyRootFilesystem work. With /etc/leo-exporter/config.yml mounted it polls the accounts
# in it; without, it runs the built-in simulator and says so in its log.
#
# CI cannot run a Docker daemon: it lints this file with hadolint and runs the build stage's
# commands and the ENTRYPOINT from a fresh wheel in a fresh virtual environment
# (tests/test_deploy_image.py), so keep the RUN steps plain commands joined by `&&`.

# Pinned to a patch release; add `@sha256:<digest>` for a byte-for-byte reproducible base.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter/ exporter/
# The wheel, installed with its dependencies into a virtual environment that is copied whole
# into the runtime stage; pip itself is not needed there. Bytecode is compiled once, unchecked
# against source timestamps, so the read-only image never recompiles.
RUN python -m venv /opt/leo-exporter \
    && python -m pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/leo-exporter/bin/python -m pip install --no-compile /wheels/leo_exporter-*.whl \
    && /opt/leo-exporter/bin/python -m pip uninstall --yes pip \
    && /opt/leo-exporter/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/leo-exporter/lib \
    && /opt/leo-exporter/bin/leo-exporter --version

# ---------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
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
