# syntax=docker/dockerfile:1
#
# barque images: one Dockerfile, two final targets.
#
#   docker build --target runtime  -t barque-runtime:dev .   # runs steps in pods
#   docker build --target operator -t barque-operator:dev .  # the kopf operator
#
# The builder stage makes a wheel of this project; each final stage installs only what
# its role needs from that wheel (runtime: barque[s3], operator: barque[operator]) through
# a bind mount, so neither the wheel nor pip's cache ends up in a layer. Every dependency
# is pinned by constraints.txt (scripts/constraints.sh regenerates it from pyproject.toml),
# carried beside the wheel. Both run as uid
# 10001 and work with a read-only root filesystem: nothing writes outside /tmp (HOME is
# /tmp and Python writes no bytecode at run time; pip compiles it at install time).
#
# PYTHON_IMAGE is for builds without a registry (the test bed passes a local Debian-made
# Python base, see testbed/images.sh); leave it alone otherwise.

ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS base
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="barque" \
      org.opencontainers.image.description="Kubernetes-native Python pipeline orchestrator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HOME=/tmp
RUN groupadd --system --gid 10001 barque \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin barque
WORKDIR /app

FROM base AS builder
WORKDIR /src
# README.md* matches nothing until the README lands; COPY needs only one match.
COPY pyproject.toml README.md* ./
COPY runtime/ runtime/
COPY operator/ operator/
COPY constraints.txt /wheels/constraints.txt
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM base AS operator
LABEL org.opencontainers.image.title="barque-operator"
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install -c /wheels/constraints.txt "$(ls /wheels/barque-*.whl)[operator]"
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["barque"]
CMD ["operator"]

# Last, so a plain `docker build .` gives the runtime image. Pipelines that need more
# (pandas and pyarrow: --build-arg RUNTIME_EXTRAS=s3,parquet), or their own libraries,
# build on it: FROM barque-runtime, USER root, pip install ..., USER 10001:10001.
FROM base AS runtime
LABEL org.opencontainers.image.title="barque-runtime"
ARG RUNTIME_EXTRAS=s3
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install -c /wheels/constraints.txt "$(ls /wheels/barque-*.whl)[${RUNTIME_EXTRAS}]"
USER 10001:10001
ENTRYPOINT ["barque"]
