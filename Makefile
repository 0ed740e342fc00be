# raftkv: one entry point for install, build, every test tier, the demo and the benchmark.
SHELL := /bin/bash
.DEFAULT_GOAL := build
NODE_TEST := node scripts/run-tests.mjs
export PATH := $(CURDIR)/.cache/bin:$(PATH)

# Inside make test's side-by-side lanes the tree is already built: NO_BUILD=1 keeps two makes
# from compiling into dist/ at once.
BUILT := $(if $(NO_BUILD),,build)

.PHONY: test-lanes install deps build lint test test-unit test-sim test-cluster test-api test-chaos test-operator \
        test-e2e test-e2e-kind demo bench bench-ab sim sim-long chaos e2e e2e-kind manifests clean image test-image cluster-up cluster-down cluster-status

## install: npm packages (from the lockfile) and the system packages the tests use
install: node_modules/.installed deps

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

deps:
	@bash scripts/install-system-deps.sh

## build: compile TypeScript into dist/; bin/raftkv, bin/raftctl and bin/raftkv-operator run it
build: node_modules/.installed
	npx tsc -p tsconfig.json
	@test -x bin/raftkv && test -x bin/raftctl && test -x bin/raftkv-operator

lint: build
	npx eslint .
	node scripts/gen-api-docs.mjs --check

## test: every tier, in order of cost
test: install build lint test-unit test-sim test-cluster test-lanes test-e2e test-e2e-kind
	@echo "make test: all tiers passed"

## test-lanes: two lanes side by side, so their times overlap on this 2-core machine instead of
## adding up: chaos then the image build and its smoke test | the operator tier then the API fuzz.
## None of them asserts on timing the other could upset (the operator tier waits on
## kube-apiserver and reconcile passes with bounded waits); output prefixed per lane, kept in
## .cache/lanes/ (scripts/run-lanes.sh); each tier still runs alone as make test-<tier>
test-lanes: build
	bash scripts/run-lanes.sh NO_BUILD=1 test-chaos,test-image test-operator,test-api

test-unit: build
	$(NODE_TEST) dist/test/unit

## test-sim: 500 seeds from a start drawn from HEAD's hash (printed), so every commit explores new seeds;
## the pinned regression seeds run in the unit tier (test/unit/checkers/simulator.test.ts)
test-sim: build
	node dist/test/sim/main.js --seeds 500 --first-from-commit

## sim-long: the wide search (100,000 seeds over 3/5/7 members, both cores, at most SIM_LONG_MINUTES);
## SIM_FIRST picks the range (default: drawn from HEAD's hash)
SIM_LONG_SEEDS ?= 100000
SIM_LONG_MINUTES ?= 120
sim-long: build
	node dist/test/sim/main.js --seeds $(SIM_LONG_SEEDS) $(if $(SIM_FIRST),--first $(SIM_FIRST),--first-from-commit) --nodes 3,5,7 --workers 2 --keep-going --max-minutes $(SIM_LONG_MINUTES)

## test-cluster: real members on loopback; the S3 backup test runs against versitygw (built once, cached)
test-cluster: build
	bash scripts/ensure-versitygw.sh
	$(NODE_TEST) --test-concurrency=1 dist/test/cluster

## test-api: schemathesis fuzzes a live 3-member cluster with the OpenAPI document (≈2.5 min; root: own network namespace)
test-api: $(BUILT)
	bash scripts/ensure-schemathesis.sh >/dev/null
	node dist/test/api/main.js --max-time 120

## test-chaos: 5 minutes of faults under full-rate keyed and sessioned writes, then every unknown-outcome
## write is retried (and must return its first answer); two planted bugs prove the checkers catch them
test-chaos: $(BUILT)
	node dist/test/chaos/main.js --members 5 --duration 300s --nemesis partition,kill,pause,disk,membership,transfer --keyed-writers 16 --session-writers 4
	node dist/test/chaos/main.js --members 3 --duration 20s --nemesis kill,pause --planted-bug stale-read --expect-failure
	node dist/test/chaos/main.js --members 3 --duration 15s --nemesis kill,pause --keyed-writers 8 --session-writers 2 --planted-bug idempotency-lapse --expect-failure

## test-operator: the backup tests use versitygw too (built once, cached)
test-operator: $(BUILT)
	bash scripts/ensure-k8s-binaries.sh
	bash scripts/ensure-helm.sh
	bash scripts/ensure-versitygw.sh
	$(NODE_TEST) --test-concurrency=1 dist/test/operator

## test-e2e: the e2e scenario on a real one-node Kubernetes (scripts/cluster.sh), started once for the
## tier with the image built from the Dockerfile, taken down at the end (test/e2e/README.md)
test-e2e: build deps
	bash scripts/test-e2e.sh

e2e: test-e2e

## sim / chaos with your own arguments: make sim ARGS="--seed 42 --trace"
sim: build
	node dist/test/sim/main.js $(ARGS)

chaos: build
	node dist/test/chaos/main.js $(ARGS)

## demo: a 3-member cluster on this machine; Ctrl-C stops it
demo: install build
	node scripts/demo.mjs

## bench: raftkv against etcd 3.6 (etcd's own benchmark tool), same machine, same durability,
## alternating rounds (~8 min); BENCH_ARGS=--quick for a ~2 min development run
bench: install build
	bash scripts/ensure-etcd36.sh
	node dist/bench/main.js $(BENCH_ARGS)

## bench-ab: a change's cost on the put rows: A=<git ref> (built once into .cache/bench-ab/) against
## this checkout, both as 3-member clusters, alternating rounds; ARGS go to bench/ab.ts
bench-ab: install build
	@test -n "$(A)" || { echo "usage: make bench-ab A=<git ref> [ARGS='--rounds 3 --duration-ms 6000']"; exit 2; }
	bash scripts/bench-ab.sh $(A) $(ARGS)

## image: build the image from the Dockerfile on a private Docker daemon (no registry needed:
## the base image is made locally once, scripts/ensure-base-image.sh); TAG=raftkv:dev by default
image: deps
	bash scripts/build-image.sh --tag $(or $(TAG),raftkv:dev)

## test-image: build the image and smoke-test it (entry points, a 3-member cluster of containers)
test-image: deps
	IMAGE_TAG=$(or $(TAG),raftkv:dev) bash scripts/test-image.sh

## cluster-up: a real one-node Kubernetes on this machine (kubelet, containerd, kube-proxy, CoreDNS,
## a default StorageClass) with raftkv:dev built from the working tree; prints `export KUBECONFIG=...`
cluster-up: deps
	bash scripts/cluster.sh up

## cluster-down: stop every process cluster-up started and remove what it created
cluster-down:
	bash scripts/cluster.sh down

cluster-status:
	bash scripts/cluster.sh status

## e2e-kind: the same e2e scenario on a kind cluster (scripts/e2e-kind.sh, test/e2e/README.md): the
## Docker daemon that answers and kind's published node image (KIND_NODE_IMAGE overrides it); on a
## machine without Docker (root), a private dockerd and a node image built here, cached per version
e2e-kind: build
	bash scripts/e2e-kind.sh

## test-e2e-kind: e2e-kind as make test runs it (the system packages first, as for test-e2e)
test-e2e-kind: build deps
	bash scripts/e2e-kind.sh

## manifests: re-render k8s/{operator,monitoring,static} from the charts (after a chart change)
manifests:
	bash scripts/ensure-helm.sh
	bash scripts/render-manifests.sh

clean:
	rm -rf dist .build
