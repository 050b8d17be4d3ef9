#!/usr/bin/env bash
# The readiness engines against epoll: portside's echo under select, poll and
# epoll (one loop), each pinned to CPU 1, the generator on CPU 0; 50
# connections ping-pong, 64-byte messages, first alone, then beside idle
# connections held open by bench/idleconns (one echoed byte each proves it is
# served). select's ceiling of 1024 descriptors holds the idle count, the 50
# active connections and the server's own descriptors, so the default is 960.
# Usage: bench/readiness.sh [seconds per round] [idle connections] [engines]
# e.g. bench/readiness.sh 3 10000 "poll epoll" (above select's wall).
set -euo pipefail
cd "$(dirname "$0")/.."
d=${1:-3}s
idle=${2:-960}
engines=${3:-select poll epoll}
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
port=7311
for e in $engines; do
	# --max-conns above any idle count asked for; epoll on one loop, as the others have
	# (they refuse --loops).
	loops=()
	case $e in epoll | uring) loops=(--loops 1) ;; esac
	start "$e" $port "$out/portside" echo --engine "$e" "${loops[@]}" --max-conns 30000 --listen 127.0.0.1:$port --log-level warn
	port=$((port + 1))
done
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
	until grep -q "connection" "$out/idle.${pp%%:*}" 2>/dev/null; do sleep 0.5; done
	echo "port ${pp%%:*}: $(cat "$out/idle.${pp%%:*}"); server descriptors: $(ls /proc/${pp##*:}/fd | wc -l)"
done
echo "== 50 connections ping-pong beside $idle idle ones"
bench
