# syntax=docker/dockerfile:1
#
# barque images: one Dockerfile, two final targets.
#
#   docker build --target runtime  -t barque:dev .           # runs steps in pods
#   docker build --target operator -t barque-operator:dev .  # the kopf operator
#
# The builder stage makes a wheel of this project; each final stage installs only what
# its role needs from that wheel (runtime: barque[s3], operator: barque[operator]) through
# a bind mount, so neither the wheel nor pip's cache ends up in a layer. Both run as uid
# 10001 and work with a read-only root filesystem: nothing writes outside /tmp (HOME is
# /tmp and Python writes no bytecode at run time; pip compiles it at install time).

ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS base
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
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM base AS operator
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install "$(ls /wheels/barque-*.whl)[operator]"
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["barque"]
CMD ["operator"]

# Last, so a plain `docker build .` gives the runtime image. Pipelines that need more
# (pandas and pyarrow: --build-arg RUNTIME_EXTRAS=s3,parquet), or their own libraries,
# build on it: FROM barque, USER root, pip install ..., USER 10001:10001.
FROM base AS runtime
ARG RUNTIME_EXTRAS=s3
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install "$(ls /wheels/barque-*.whl)[${RUNTIME_EXTRAS}]"
USER 10001:10001
ENTRYPOINT ["barque"]
