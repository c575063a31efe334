# One image for all four placehub programs; the command picks the program:
#   docker run --rm placehub:local placehub-ingest --help
#   docker run --rm placehub:local placehub-dispatch -c /opt/placehub/config/placehub.docker.yaml
# docker-compose.yml builds it and runs every service from it
# (docs/deployment.md). tests/integration/test_compose.py checks this file
# against docker-compose.yml.

ARG DEBIAN_IMAGE=debian:bookworm-slim

# --- build: the -dev packages of scripts/install-deps.sh, then `make` ----------
FROM ${DEBIAN_IMAGE} AS build

# Only what `make` (the `all` target) needs: no clang, cmocka, valgrind, Java or
# Python, which are for tests and the dev broker. make runs
# scripts/librdkafka.sh, which builds a pinned release (zlib and zstd are its
# own -dev packages) linked statically; cargo (with ca-certificates) fetches
# its source through tools/librdkafka/, checked against that Cargo.lock, and
# python3 reads cargo's metadata. cargo stays in this stage only.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config make cargo ca-certificates python3 \
      libavro-dev libcurl4-openssl-dev libjansson-dev libyaml-dev \
      libmicrohttpd-dev uuid-dev libssl-dev zlib1g-dev libzstd-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# .dockerignore lets only the sources through (no build/, .git, .cache, secrets).
COPY Makefile ./
COPY scripts/librdkafka.sh scripts/
COPY tools/librdkafka/ tools/librdkafka/
# The console's pages are compiled into placehub-console.
COPY tools/embed-assets.py tools/
COPY include/ include/
COPY lib/ lib/
COPY connectors/ connectors/
COPY services/ services/
RUN make -j"$(nproc)" all

# --- runtime: the shared libraries only ------------------------------------
FROM ${DEBIAN_IMAGE} AS runtime

# Runtime packages of the -dev packages above (Debian 12 names); librdkafka
# is linked into the programs:
#   libavro-dev -> libavro23             libcurl4-openssl-dev -> libcurl4
#   libjansson-dev -> libjansson4        libyaml-dev -> libyaml-0-2
#   libmicrohttpd-dev -> libmicrohttpd12 uuid-dev -> libuuid1
#   libssl-dev -> libssl3 (libcrypto.so.3)
#   zlib1g-dev -> zlib1g                 libzstd-dev -> libzstd1
#   libsqlite3-dev -> libsqlite3-0 (the disclosure ledger)
# ca-certificates: TLS to partners and to a TLS Kafka or registry.
# curl: the HTTP healthchecks in docker-compose.yml (libcurl4 is needed anyway).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libavro23 libcurl4 libjansson4 libyaml-0-2 libmicrohttpd12 \
      libuuid1 libssl3 zlib1g libzstd1 libsqlite3-0 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged uid/gid, so mounted files and Kubernetes
# runAsNonRoot work without a name lookup.
RUN groupadd --system --gid 10001 placehub \
 && useradd --system --uid 10001 --gid placehub --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin placehub

# Root-owned and read-only for the service user.
# schemas/ sits next to config/ because the config's schemas_dir ("../schemas")
# is resolved against the config file's folder.
COPY --from=build /src/build/bin/ /opt/placehub/bin/
COPY schemas/ /opt/placehub/schemas/
COPY config/ /opt/placehub/config/

# The one place a program writes: placehub-dispatch's disclosure ledger
# (governance.ledger in config/placehub.docker.yaml), a volume in
# docker-compose.yml. A new named volume takes this folder's owner.
RUN mkdir -p /var/lib/placehub && chown 10001:10001 /var/lib/placehub && chmod 0750 /var/lib/placehub

# Fail the image build, not the first start, if a library is missing.
RUN set -e; for program in /opt/placehub/bin/placehub-*; do \
      if ldd "$program" | grep -q 'not found'; then ldd "$program"; exit 1; fi; \
    done

ENV PATH=/opt/placehub/bin:$PATH \
    PLACEHUB_LOG_LEVEL=info
WORKDIR /opt/placehub
USER 10001:10001

# Documentation only; what is published is up to docker-compose.yml.
# 8080 ingest, 8081 embedded registry, 9190 console, 9101/9102 simulated partners.
EXPOSE 8080 8081 9190 9101 9102

CMD ["placehub-ingest", "-c", "/opt/placehub/config/placehub.docker.yaml"]
