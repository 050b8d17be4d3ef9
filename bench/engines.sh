#!/usr/bin/env bash
# Compares portside's engines with a Go stdlib echo and a C epoll echo:
# every server pinned to CPU 1, the generator to CPU 0, interleaved rounds,
# 64-byte messages. Usage: bench/engines.sh [seconds per round]
set -euo pipefail
cd "$(dirname "$0")/.."
d=${1:-5}s
out=$(mktemp -d)
go build -o "$out/portside" ./cmd/portside
go build -o "$out/stdecho" ./bench/stdecho
gcc -O2 -o "$out/cecho" bench/cecho/echo.c

pids=()
start() { # name port command...
	local name=$1 port=$2
	shift 2
	taskset -c 1 "$@" >/dev/null 2>&1 &
	pids+=($!)
	targets+=(--target "$name=127.0.0.1:$port@$!")
}
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
targets=()
start epoll 7301 "$out/portside" echo --engine epoll --loops 1 --listen 127.0.0.1:7301 --log-level warn
start goroutine 7302 "$out/portside" echo --engine goroutine --listen 127.0.0.1:7302 --log-level warn
start stdlib 7303 "$out/stdecho" -port 7303
start c-epoll 7304 "$out/cecho" 7304
sleep 1
for conns in 50 1000; do
	for depth in 1 16; do
		echo "== $conns connections, pipeline $depth"
		"$out/portside" bench echo --quiet --cpus 0 -c "$conns" --pipeline "$depth" -d "$d" --warmup 1s \
			--rounds 3 "${targets[@]}"
	done
done
