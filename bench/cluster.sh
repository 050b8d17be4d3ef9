#!/usr/bin/env bash
# A chat room shared by three portside chat nodes over NATS JetStream, all
# on one machine: nats-server and the three nodes pinned to CPU 1, portside
# bench chat on CPU 0 with 999 members dealt over the nodes (--also), every
# delivery checked across nodes; server CPU is that of the four processes
# together. Then one node alone with its history in memory, for the
# single-node figure. Needs nats-server on PATH (Debian's
# nats-server package).
# Usage: bench/cluster.sh [seconds per step] [rates...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
shift $(( $# < 1 ? $# : 1 ))
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(1000 3000 6000)
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/portside" ./cmd/portside
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	exit 1
}
taskset -c 1 "$nats" -js -sd "$work/js" -a 127.0.0.1 -p 14333 >"$work/nats.log" 2>&1 &
pids+=($!)
natspid=$!
wait_port 14333
nodes=()
for i in 1 2 3; do
	taskset -c 1 "$work/portside" chat --listen "127.0.0.1:1680$i" --nats nats://127.0.0.1:14333 \
		--flood-rate 0 --log-level warn >/dev/null &
	pids+=($!)
	nodes+=($!)
	wait_port "1680$i"
done
for r in "${rates[@]}"; do
	echo "== three nodes over NATS, 999 members, 9 senders, $r msg/s"
	"$work/portside" bench chat --cpus 0 -c 999 --senders 9 --rate "$r" -d "${secs}s" --warmup 1s \
		--also 127.0.0.1:16802 --also 127.0.0.1:16803 127.0.0.1:16801 \
		--server-pid "$natspid" --server-pid "${nodes[0]}" --server-pid "${nodes[1]}" --server-pid "${nodes[2]}" || true
done
kill "${nodes[@]}"
taskset -c 1 "$work/portside" chat --listen 127.0.0.1:16804 --data - --flood-rate 0 --log-level warn >/dev/null &
srv=$!
pids+=($srv)
wait_port 16804
for r in "${rates[@]}"; do
	echo "== one node, history in memory, 999 members, 9 senders, $r msg/s"
	"$work/portside" bench chat 127.0.0.1:16804 --cpus 0 -c 999 --senders 9 --rate "$r" -d "${secs}s" \
		--warmup 1s --server-pid "$srv" || true
done
