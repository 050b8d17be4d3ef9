#!/usr/bin/env bash
# Compares portside's engines with a Go stdlib echo and C epoll and io_uring
# echoes (the io_uring one needs liburing: Debian's liburing-dev, installed
# here if missing):
# every server pinned to CPU 1, the generator to CPU 0, interleaved rounds,
# 64-byte messages. Usage: bench/engines.sh [seconds per round]
set -euo pipefail
cd "$(dirname "$0")/.."
d=${1:-5}s
out=$(mktemp -d)
go build -o "$out/portside" ./cmd/portside
go build -o "$out/stdecho" ./bench/stdecho
gcc -O2 -o "$out/cecho" bench/cecho/echo.c
if [ ! -e /usr/include/liburing.h ]; then
	echo "installing liburing-dev for the C io_uring echo" >&2
	${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo)} apt-get install -y liburing-dev >&2
fi
gcc -O2 -o "$out/curing" bench/cecho/uring.c -luring

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
start uring 7305 "$out/portside" echo --engine uring --loops 1 --listen 127.0.0.1:7305 --log-level warn
start c-uring 7306 "$out/curing" 7306
sleep 1
for conns in 50 1000; do
	for depth in 1 16; do
		echo "== $conns connections, pipeline $depth"
		"$out/portside" bench echo --quiet --cpus 0 -c "$conns" --pipeline "$depth" -d "$d" --warmup 1s \
			--rounds 3 "${targets[@]}"
	done
done
