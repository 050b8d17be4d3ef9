#!/usr/bin/env bash
# A 1,000-member chat room: portside chat pinned to CPU 1 (epoll engine,
# history in memory, flood control off), portside bench chat on CPU 0. The
# sender rate rises in steps; each step prints deliveries/s, loss, latency
# percentiles and CPU per delivery. Then 15,000 idle IRC clients (150 rooms
# of 100) and the server's resident memory per client.
# Usage: bench/chat.sh [seconds per step] [line|irc|both] [rates...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
doors=${2:-both}
shift $(( $# < 2 ? $# : 2 ))
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(250 500 1000 1500 2000 2500 3000)
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/portside" ./cmd/portside
serve() { # port: starts a fresh server, sets $srv
	taskset -c 1 "$work/portside" chat --listen "127.0.0.1:$1" --data - --flood-rate 0 \
		--max-conns 19000 --log-level warn >/dev/null &
	srv=$!
	pids+=($srv)
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && break
		sleep 0.1
	done
}
port=16670
for door in line irc; do
	[ "$doors" = both ] || [ "$doors" = "$door" ] || continue
	flag=""
	[ "$door" = irc ] && flag=--irc
	serve $port
	for r in "${rates[@]}"; do
		echo "== $door door, 1,000 members, 10 senders, $r msg/s"
		"$work/portside" bench chat 127.0.0.1:$port $flag --cpus 0 -c 1000 --senders 10 --rate "$r" \
			-d "${secs}s" --warmup 1s --server-pid "$srv" || true
	done
	kill "$srv"
	port=$((port + 1))
done
echo "== 15,000 idle IRC clients in 150 rooms, epoll engine"
serve $port
"$work/portside" bench chat 127.0.0.1:$port --idle --irc --cpus 0 -c 15000 --rooms 150 -d 30s \
	--timeout 60s --server-pid "$srv"
