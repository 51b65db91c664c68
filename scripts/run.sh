#!/usr/bin/env bash
# Starts the control plane and the gateway on the embedded SQLite database
# under ./data, as `make run` promises; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data
export OAIS_DATABASE_URL="${OAIS_DATABASE_URL:-sqlite://./data/oais.db}"
export OAIS_LOG_FORMAT="${OAIS_LOG_FORMAT:-text}"
export OAIS_CONTROLPLANE_ADDR="${OAIS_CONTROLPLANE_ADDR:-:8080}"
export OAIS_GATEWAY_ADDR="${OAIS_GATEWAY_ADDR:-:8081}"
# The readiness probe dials where the control plane listens; an unspecified
# host (:8080, 0.0.0.0, [::]) is reached on localhost, as the printed URLs are
# (config.LocalURL).
cp_host="${OAIS_CONTROLPLANE_ADDR%:*}"
case "$cp_host" in "" | 0.0.0.0 | "[::]") cp_host=localhost ;; esac
cp_url="http://${cp_host}:${OAIS_CONTROLPLANE_ADDR##*:}"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

./bin/controlplane serve &
pids+=($!)
# The gateway reads keys the control plane migrates and bootstraps: wait for it.
for _ in $(seq 1 100); do
  curl -fsS "${cp_url}/readyz" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || exit 1
  sleep 0.2
done
./bin/gateway serve &
pids+=($!)
wait -n
