ARG BASE=debian:bookworm-slim
# PostgreSQL from Debian's own package (the support bot's store in the compose stack), on the same base as the
# app images. The password comes from the environment at first start (POSTGRES_PASSWORD, via the env file).
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
# A fixed uid (999, as in the official postgres image), so USER is numeric and Kubernetes can check runAsNonRoot.
RUN groupadd --system --gid 999 postgres \
    && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s "$(ls -d /usr/lib/postgresql/*/bin)" /usr/local/lib/pgbin \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY docker/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PGDATA=/var/lib/postgresql/data \
    PATH=/usr/local/lib/pgbin:$PATH
USER 999
VOLUME /var/lib/postgresql/data
EXPOSE 5432
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=5 \
    CMD ["pg_isready", "-q", "-h", "127.0.0.1"]
ENTRYPOINT ["postgres-entrypoint"]
