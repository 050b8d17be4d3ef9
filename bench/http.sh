#!/usr/bin/env bash
# Compares portside's HTTP server with nginx (1 worker, sendfile on, access
# log off) and Go's net/http FileServer: each server pinned to CPU 1,
# portside bench on CPU 0, interleaved rounds, 50 keep-alive connections.
# Usage: bench/http.sh [seconds per round] [engine]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
eng=${2:-epoll}
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || {
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
work=$(mktemp -d)
chmod 755 "$work"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/portside" ./cmd/portside
go build -o "$work/filesrv" ./bench/filesrv
mkdir -p "$work/www"
head -c 1024 /dev/urandom >"$work/www/1k"
head -c 65536 /dev/urandom >"$work/www/64k"
head -c 10485760 /dev/urandom >"$work/www/10m"
chmod 644 "$work/www/"*
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $work/nginx.err;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000000;
	server { listen 127.0.0.1:8092; root $work/www; }
}
CONF
taskset -c 1 "$work/portside" http --engine "$eng" --root "$work/www" --listen 127.0.0.1:8091 --access-log off --log-level warn >/dev/null &
pids+=($!); ps=$!
taskset -c 1 "$NGINX" -c "$work/nginx.conf" -p "$work" &
pids+=($!); ng=$!
taskset -c 1 "$work/filesrv" -root "$work/www" -listen 127.0.0.1:8093 &
pids+=($!); fs=$!
sleep 1
t() { echo "--target portside=http://127.0.0.1:8091$1@$ps --target nginx=http://127.0.0.1:8092$1@$ng --target net/http=http://127.0.0.1:8093$1@$fs"; }
for f in 1k 64k; do
	echo "== $f, 50 connections"
	"$work/portside" bench http --quiet --cpus 0 -c 50 -d "${secs}s" --rounds 3 $(t /$f)
done
echo "== 10m, 10 connections"
"$work/portside" bench http --quiet --cpus 0 -c 10 -d "${secs}s" --rounds 3 $(t /10m)
echo "== 1k, 50 connections, pipelined 16"
"$work/portside" bench http --quiet --cpus 0 -c 50 --pipeline 16 -d "${secs}s" --rounds 3 $(t /1k)
