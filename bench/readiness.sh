#!/usr/bin/env bash
# The readiness engines against epoll: portside's echo under select, poll and
# epoll (one loop), each pinned to CPU 1, the generator on CPU 0; 50
# connections ping-pong, 64-byte messages, first alone, then beside idle
# connections held open by bench/idleconns (one echoed byte each proves it is
# served). select's ceiling of 1024 descriptors holds the idle count, the 50
# active connections and the server's own descriptors, so the default is 960.
# Usage: bench/readiness.sh [seconds per round] [idle connections]
set -euo pipefail
cd "$(dirname "$0")/.."
d=${1:-3}s
idle=${2:-960}
out=$(mktemp -d)
go build -o "$out/portside" ./cmd/portside
go build -o "$out/idleconns" ./bench/idleconns

pids=()
targets=()
ports=()
start() { # name port command...
	local name=$1 port=$2
	shift 2
	taskset -c 1 "$@" >/dev/null 2>&1 &
	pids+=($!)
	ports+=("$port:$!")
	targets+=(--target "$name=127.0.0.1:$port@$!")
}
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
start select 7311 "$out/portside" echo --engine select --listen 127.0.0.1:7311 --log-level warn
start poll 7312 "$out/portside" echo --engine poll --listen 127.0.0.1:7312 --log-level warn
start epoll 7313 "$out/portside" echo --engine epoll --loops 1 --listen 127.0.0.1:7313 --log-level warn
sleep 1
bench() {
	"$out/portside" bench echo --quiet --cpus 0 -c 50 -d "$d" --warmup 1s --rounds 2 "${targets[@]}"
}

echo "== 50 connections ping-pong, no idle ones"
bench

for pp in "${ports[@]}"; do
	taskset -c 0 "$out/idleconns" -addr "127.0.0.1:${pp%%:*}" -pid "${pp##*:}" -n "$idle" -hold 1h >"$out/idle.${pp%%:*}" 2>&1 &
	pids+=($!)
done
for pp in "${ports[@]}"; do
	until grep -q "accepted and answered\|connection" "$out/idle.${pp%%:*}" 2>/dev/null; do sleep 0.5; done
	echo "port ${pp%%:*}: $(cat "$out/idle.${pp%%:*}"); server descriptors: $(ls /proc/${pp##*:}/fd | wc -l)"
done
echo "== 50 connections ping-pong beside $idle idle ones"
bench
