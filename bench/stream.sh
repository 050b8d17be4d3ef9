#!/usr/bin/env bash
# Measures the stream package's echo (bench/streamecho) against the stdlib
# echo on the goroutine engine and against the callback echo on epoll:
# servers pinned to CPU 1, the generator to CPU 0, interleaved rounds,
# 64-byte messages, 50 connections, ping-pong and 16 in flight. Then the
# memory of idle stream connections under each engine.
# Usage: bench/stream.sh [seconds per round] [idle connections]
set -euo pipefail
cd "$(dirname "$0")/.."
d=${1:-3}s
n=${2:-5000}
out=$(mktemp -d)
go build -o "$out/portside" ./cmd/portside
go build -o "$out/stdecho" ./bench/stdecho
go build -o "$out/streamecho" ./bench/streamecho
go build -o "$out/idleconns" ./bench/idleconns

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$out"' EXIT
start() { # name port command...
	local name=$1 port=$2
	shift 2
	taskset -c 1 "$@" >/dev/null 2>&1 &
	pids+=($!)
	targets+=(--target "$name=127.0.0.1:$port@$!")
}
targets=()
start stdlib 7403 "$out/stdecho" -port 7403
start stream-goroutine 7402 "$out/streamecho" -engine goroutine -listen 127.0.0.1:7402
start callback-epoll 7401 "$out/portside" echo --engine epoll --loops 1 --listen 127.0.0.1:7401 --log-level warn
start stream-epoll 7404 "$out/streamecho" -engine epoll -loops 1 -listen 127.0.0.1:7404
sleep 1
for depth in 1 16; do
	echo "== 50 connections, pipeline $depth"
	"$out/portside" bench echo --quiet --cpus 0 -c 50 --pipeline "$depth" -d "$d" --warmup 1s \
		--rounds 3 "${targets[@]}"
done
kill "${pids[@]}" 2>/dev/null
pids=()
port=7410
# iterative serves one connection at a time: there is no per-connection
# figure to take. fork: a process each, so fewer, and their own RSS.
for eng in epoll goroutine fork; do
	k=$n
	[ "$eng" = fork ] && k=100
	port=$((port + 1))
	"$out/streamecho" -engine "$eng" -listen 127.0.0.1:$port >/dev/null 2>&1 &
	pids+=($!)
	sleep 1
	echo "== idle stream connections, $eng"
	"$out/idleconns" -addr 127.0.0.1:$port -pid "${pids[-1]}" -n "$k" &
	if [ "$eng" = fork ]; then
		# idleconns holds its connections for 2 s once all are answered.
		sleep 1.5
		ps --ppid "${pids[-1]}" -o rss= | awk '{s += $1; n++} END {if (n) printf "fork children: %d, %d KiB RSS each on average\n", n, s / n}'
	fi
	wait $!
	kill "${pids[-1]}"
	wait "${pids[-1]}" 2>/dev/null || true
	pids=()
done
