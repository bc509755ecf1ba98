#!/usr/bin/env bash
# Load test of the token endpoint against a real Redis, on 127.0.0.1 only,
# bounded in time. It starts its own redis-server and oauth2d on free ports,
# then measures, in one run on the same cores:
#   1. the bare ES256 signature rate (Go benchmark in internal/token),
#   2. the refresh_token grant with wrk (every request spends a fresh token),
#   3. the client_credentials grant with wrk,
# and prints each grant's throughput as a ratio of the bare signature rate
# (wrk, Redis and the server share the cores, so the ratio is conservative).
#
#   scripts/load.sh                 # 10 s per run, 64 connections
#   DURATION=30s CONNECTIONS=128 scripts/load.sh
#   KEEP_STATS=/tmp/redis-stats scripts/load.sh   # also keep Redis's per-command cost
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
POOL=${POOL:-$((CONNECTIONS * 2))}

need() { command -v "$1" >/dev/null 2>&1 || { echo "load.sh: $1 is required (apt-get install -y $2)" >&2; exit 2; }; }
need redis-server redis-server
need wrk wrk
need curl curl

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { [ -n "${KEEP_STATS:-}" ] && redis-cli -p "$redis_port" info commandstats | grep -E "evalsha|hget|publish" >"$KEEP_STATS"; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)

go build -o "$work/oauth2d" ./cmd/oauth2d
port=$(free_port)
base="http://127.0.0.1:$port"
OAUTH2D_ADDR="127.0.0.1:$port" OAUTH2D_ISSUER="$base" \
  OAUTH2D_REDIS_URL="redis://127.0.0.1:$redis_port/0" OAUTH2D_REDIS_PREFIX="load:" \
  OAUTH2D_RATE_LIMIT_LOGIN_PER_USERNAME=1000000 OAUTH2D_RATE_LIMIT_LOGIN_PER_IP=1000000 \
  OAUTH2D_LOG_LEVEL=warn \
  "$work/oauth2d" serve >"$work/oauth2d.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$base/readyz" >/dev/null || { echo "load.sh: server did not become ready" >&2; cat "$work/oauth2d.log" >&2; exit 1; }

first_party=$(printf '%s' 'demo-first-party:demo-first-party-secret' | base64 -w0)
service=$(printf '%s' 'demo-service:demo-service-secret' | base64 -w0)

echo "== bare ES256 signature (go test -bench BenchmarkSignES256, 1 core)"
sign_ns=$(go test -run '^$' -bench '^BenchmarkSignES256$' -benchtime 2s ./internal/token/ | awk '/^BenchmarkSignES256/ {print $3}')
cores=$(nproc)
sign_rate=$(awk -v ns="$sign_ns" -v c="$cores" 'BEGIN { printf "%.0f", c * 1e9 / ns }')
echo "   $sign_ns ns/op -> $sign_rate signatures/s on $cores cores"

echo "== issuing $POOL refresh tokens (password grant)"
seq "$POOL" | xargs -P "$cores" -I{} curl -fs -H "Authorization: Basic $first_party" \
  -d grant_type=password -d username=alice -d password=alice-password -d scope=comments:read \
  "$base/oauth2/token" | grep -o '"refresh_token":"[^"]*"' | cut -d'"' -f4 >"$work/tokens"
echo "   $(wc -l <"$work/tokens") tokens"

run() { # name script
  echo "== $1: wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
  TOKENS_FILE="$work/tokens" WRK_THREADS=$THREADS CLIENT_BASIC=$3 \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$2" "$base" | tee "$work/$1.out"
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/$1.out")
  awk -v r="$rps" -v s="$sign_rate" -v n="$1" 'BEGIN { printf "   %s: %.0f req/s = %.1f%% of the bare ES256 sign rate\n", n, r, 100 * r / s }'
}
run refresh scripts/wrk/refresh.lua "$first_party"
run client_credentials scripts/wrk/client_credentials.lua "$service"
