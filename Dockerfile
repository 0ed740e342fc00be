# raftkv image: the daemon (raftkv, the ENTRYPOINT), the client (raftctl) and the operator
# (raftkv-operator; the operator chart runs it as `command: [raftkv-operator]`).
#   docker build -t raftkv:dev .
#   docker run --rm raftkv:dev --help            # raftkv's flags
#   docker run --rm --entrypoint raftctl raftkv:dev --help
# Pinned base image; no `latest`. linux/amd64: @nxtedition/rocksdb ships a prebuilt binary for
# linux-x64 only (other platforms would need a toolchain to compile RocksDB; the smoke check
# below fails the build there instead of shipping an image that cannot start).
# test/operator/packaging.test.ts checks that every path here matches what `make build` emits;
# `make test-image` builds this file and runs the image (scripts/test-image.sh).
#
# Behind a TLS-inspecting proxy, give npm your proxy's CA bundle as a build secret (BuildKit, the
# default builder of Docker 23+, and buildah/podman); it is used by `npm ci` only and is not
# stored in any layer:
#   docker build --secret id=extra_ca,src=/path/to/corporate-ca.pem -t raftkv:dev .
ARG NODE_IMAGE=node:20.19.5-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts are not needed: @nxtedition/rocksdb loads its prebuilt binary at run time.
# npm has exited 0 with nothing installed (`Exit handler never called!` after a TLS failure), so
# `npm ls` must then find every locked dependency in place, or the build stops here.
RUN --mount=type=secret,id=extra_ca \
    if [ -s /run/secrets/extra_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca; fi \
 && npm ci --ignore-scripts --no-audit --no-fund \
 && npm ls --all >/dev/null
COPY tsconfig.json ./
COPY daemon ./daemon
COPY operator ./operator
# Only the product: tsconfig's rootDir "." keeps the dist/daemon/src, dist/operator/src layout
# that bin/ imports, and tests/benchmarks are not in the build context (.dockerignore).
# The locked TypeScript, never a tool fetched by name (`npx tsc` would download the unrelated
# `tsc` package when node_modules is incomplete).
RUN node_modules/.bin/tsc -p tsconfig.json

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=extra_ca \
    if [ -s /run/secrets/extra_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca; fi \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm ls --all --omit=dev >/dev/null \
 && npm cache clean --force

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG SOURCE=https://github.com/raftkv/raftkv
ARG REVISION=unknown
LABEL org.opencontainers.image.title="raftkv" \
      org.opencontainers.image.description="A Raft-replicated key-value store for Kubernetes, with its operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="docker.io/library/node:20.19.5-bookworm-slim"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist/daemon ./dist/daemon
COPY --from=build /src/dist/operator ./dist/operator
COPY package.json ./
COPY bin ./bin
# The status page is served from the source tree (findStatusPageDir walks up from dist/).
COPY daemon/src/api/status-page ./daemon/src/api/status-page
RUN ln -s /app/bin/raftkv /usr/local/bin/raftkv \
 && ln -s /app/bin/raftctl /usr/local/bin/raftctl \
 && ln -s /app/bin/raftkv-operator /usr/local/bin/raftkv-operator \
 && mkdir -p /var/lib/raftkv && chown 1000:1000 /var/lib/raftkv \
 && raftkv --help >/dev/null && raftctl --help >/dev/null \
 && node -e "require('@nxtedition/rocksdb')"
# The base image's non-root `node` user, numerically so runAsNonRoot can verify it.
USER 1000:1000
ENV RAFTKV_DATA_DIR=/var/lib/raftkv
EXPOSE 2379 2380 8080
ENTRYPOINT ["raftkv"]
