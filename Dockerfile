# fedibridge: posts a library's feeds to its fediverse account.
# Config at /config/config.toml (mount it read-only), state in the volume /data,
# the access token as a Docker secret in /run/secrets/. Runs with a read-only root filesystem.
#
# Build:  docker build --build-arg SOURCE_URL=https://where.you/publish/fedibridge -t fedibridge .

# The base: the official Python image. CI builds on a stand-in made from Debian's packages
# (scripts/container-test), as no image registry can be reached from there.
ARG BASE_IMAGE=python:3.11-slim

# --- build -------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY src ./src
# A virtual environment, so that the final image takes exactly what fedibridge needs and
# nothing of the build (the source tree); pip and setuptools, which only install, are dropped.
# The dependencies are exactly those of requirements.lock, each checked against its hash
# (scripts/lock writes it); then fedibridge itself, which adds none.
RUN python -m venv /opt/fedibridge \
 && /opt/fedibridge/bin/python -m pip install --no-cache-dir --require-hashes -r requirements.lock \
 && /opt/fedibridge/bin/python -m pip install --no-cache-dir --no-deps . \
 && /opt/fedibridge/bin/python -m pip uninstall --yes pip setuptools

# --- run ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

ARG VERSION=0.1.0
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="fedibridge" \
      org.opencontainers.image.description="Posts a library's RSS/Atom feeds to its fediverse account, each item once." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT"

# Nothing is written outside /data: no bytecode caches (the install step compiled them
# already), no pip cache. Output unbuffered, so log lines reach `docker logs` at once.
ENV PATH=/opt/fedibridge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FEDIBRIDGE_CONFIG=/config/config.toml \
    FEDIBRIDGE_BRIDGE__STATE_PATH=/data/fedibridge.sqlite3

COPY --from=build /opt/fedibridge /opt/fedibridge
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin fedibridge \
 && mkdir -p /data /config \
 && chown 10001:10001 /data

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# The status page, when [bridge] status_listen = "0.0.0.0:8080" (docker-compose.yml sets it).
EXPOSE 8080

# Healthy while every feed has been polled within three of its intervals. No curl needed.
HEALTHCHECK --interval=5m --timeout=30s --start-period=2m \
  CMD ["fedibridge", "healthcheck"]

# Exec form: fedibridge itself receives SIGTERM (docker stop), finishes the post in flight
# and exits. It handles SIGTERM and SIGINT itself and starts no child processes, so it needs
# no init to forward signals or reap zombies; `init: true` (compose) or `docker run --init`
# adds Docker's own tini all the same.
ENTRYPOINT ["fedibridge"]
CMD ["run"]
