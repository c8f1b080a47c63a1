# fedibridge: posts a library's feeds to its fediverse account.
# Config at /config/config.toml (mount it read-only), state in the volume /data,
# the access token as a Docker secret in /run/secrets/.
FROM python:3.11-slim

LABEL org.opencontainers.image.title="fedibridge" \
      org.opencontainers.image.description="Posts a library's RSS/Atom feeds to its fediverse account, each item once." \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FEDIBRIDGE_CONFIG=/config/config.toml \
    FEDIBRIDGE_BRIDGE__STATE_PATH=/data/fedibridge.sqlite3

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# The same install step CI runs on a fresh machine (.ci/run): a plain `pip install .`.
RUN python -m pip install --no-cache-dir . \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin fedibridge \
 && mkdir -p /data /config \
 && chown fedibridge:fedibridge /data

USER 10001:10001
VOLUME ["/data"]

# Healthy while every feed has been polled within three of its intervals. No curl needed.
HEALTHCHECK --interval=5m --timeout=30s --start-period=2m \
  CMD ["fedibridge", "healthcheck"]

# Exec form, so fedibridge itself receives SIGTERM (docker stop) and finishes the post in
# flight before it exits.
ENTRYPOINT ["fedibridge"]
CMD ["run"]
