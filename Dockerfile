# raftkv image: the daemon (raftkv), the client (raftctl) and the operator (raftkv-operator).
# Build: docker build -t raftkv:dev .   Run: docker run raftkv:dev raftkv --help
# Pinned base images; no `latest`.
ARG NODE_IMAGE=node:20.19.5-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts are not needed: @nxtedition/rocksdb loads its prebuilt binary at run time.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY daemon ./daemon
COPY operator ./operator
COPY test ./test
COPY bench ./bench
RUN npx tsc -p tsconfig.json

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="raftkv" \
      org.opencontainers.image.description="A Raft-replicated key-value store for Kubernetes, with its operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/raftkv"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist/daemon ./dist/daemon
COPY --from=build /src/dist/operator ./dist/operator
COPY package.json ./
COPY bin ./bin
COPY daemon/src/api/status-page ./daemon/src/api/status-page
RUN ln -s /app/bin/raftkv /usr/local/bin/raftkv \
 && ln -s /app/bin/raftctl /usr/local/bin/raftctl \
 && ln -s /app/bin/raftkv-operator /usr/local/bin/raftkv-operator \
 && mkdir -p /var/lib/raftkv && chown node:node /var/lib/raftkv
# The image's built-in non-root user.
USER node
ENV RAFTKV_DATA_DIR=/var/lib/raftkv
EXPOSE 2379 2380
ENTRYPOINT ["raftkv"]
