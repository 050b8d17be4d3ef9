#!/usr/bin/env bash
# The engines' tour, measured: for each engine, portside's echo pinned to
# CPU 1 and the load on CPU 0, loopback only, 64-byte messages.
#  - setup: one connection at a time, connect + one echoed message
#    (bench/connlat), on a fresh server;
#  - 50 connections ping-pong (portside bench echo --json, the engines
#    interleaved, --rounds 2) beside 0, 1,000 and 10,000 other connections
#    held idle by bench/idleconns, which also reports the server's memory per
#    idle connection (the private memory of its process tree, so fork's children count).
# Where an engine cannot take a level it is capped, and the cap is what the
# files record: select at 960 idle (its 1024-descriptor wall, beside 50
# active ones and its own), fork at 1,000 (a process per connection; set
# FORK_MAX to change it), iterative at none (it serves one connection at a
# time: the first idle one would hold it), measured with 1 active connection
# instead of 50 (and every other engine with 1 too, for scale), and with 50
# once more to show the starving.
# Every server is started fresh for each level; files go to OUTDIR, and
# go run ./bench/tourchart OUTDIR draws docs/engines-tour.svg and prints the table.
# Usage: bench/tour.sh [seconds per round] [idle counts] [engines] [OUTDIR]
# e.g. bench/tour.sh 2 "0 1000 10000" "iterative fork goroutine select poll epoll uring" bench/tourdata
set -euo pipefail
cd "$(dirname "$0")/.."
d=${1:-2}
levels=${2:-0 1000 10000}
engines=${3:-iterative fork goroutine select poll epoll}
outdir=${4:-bench/tourdata}
fork_max=${FORK_MAX:-1000}
mkdir -p "$outdir"
bin=$(mktemp -d)
go build -o "$bin/portside" ./cmd/portside
go build -o "$bin/idleconns" ./bench/idleconns
go build -o "$bin/connlat" ./bench/connlat

# idle_for ENGINE LEVEL: the idle connections ENGINE is measured beside at
# LEVEL, or nothing when it sits the level out.
idle_for() {
	local e=$1 n=$2
	case $e in
	iterative) if ((n == 0)); then echo 0; fi ;;
	select) echo $((n < 960 ? n : 960)) ;;
	fork) echo $((n < fork_max ? n : fork_max)) ;;
	*) echo "$n" ;;
	esac
}

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$bin"' EXIT
echo "$(date -u +%FT%TZ) start: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$outdir/load.txt"
declare -A done_idle # ENGINE:N measured already (a capped level repeats one)
for level in $levels; do
	pids=()
	targets=()
	servers=()
	iter=""
	port=7421
	for e in $engines; do
		n=$(idle_for "$e" "$level")
		if [[ -z $n || -n ${done_idle[$e:$n]:-} ]]; then continue; fi
		done_idle[$e:$n]=1
		# --max-conns above any idle count asked for; --loops 1: the engines
		# with loops on one, as the others have (the others refuse the flag).
		loops=()
		case $e in epoll | uring) loops=(--loops 1) ;; esac
		taskset -c 1 "$bin/portside" echo --engine "$e" "${loops[@]}" --max-conns 30000 \
			--listen 127.0.0.1:$port --log-level warn >/dev/null 2>&1 &
		pids+=($!)
		servers+=("$e:$port:$!:$n")
		if [[ $e == iterative ]]; then
			iter="--target $e=127.0.0.1:$port@$!"
		else
			targets+=(--target "$e=127.0.0.1:$port@$!")
		fi
		port=$((port + 1))
	done
	if ((${#servers[@]} == 0)); then continue; fi
	sleep 1
	for s in "${servers[@]}"; do
		IFS=: read -r e p pid n <<<"$s"
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "tour: portside echo --engine $e did not start (is $e an engine of this build?)" >&2
			exit 1
		fi
	done
	for s in "${servers[@]}"; do
		IFS=: read -r e p pid n <<<"$s"
		if ((level == 0)); then
			taskset -c 0 "$bin/connlat" -addr 127.0.0.1:$p -d "${d}s" -json "$outdir/connect-$e.json"
		elif ((n > 0)); then
			taskset -c 0 "$bin/idleconns" -addr 127.0.0.1:$p -pid "$pid" -n "$n" -hold 2h \
				-json "$outdir/idle-L$level-$e.json" >"$bin/idle.$p" 2>&1 &
			pids+=($!)
		fi
	done
	for s in "${servers[@]}"; do
		IFS=: read -r e p pid n <<<"$s"
		if ((level == 0 || n == 0)); then continue; fi
		until grep -q "connection" "$bin/idle.$p" 2>/dev/null; do sleep 1; done
		echo "$e: $(cat "$bin/idle.$p"); server descriptors: $(ls /proc/$pid/fd | wc -l)"
	done
	echo "$(date -u +%FT%TZ) level $level: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$outdir/load.txt"
	run() { # FILE flags...: a failed run (errors, starving) still writes its report
		local f=$1
		shift
		"$bin/portside" bench echo --quiet --cpus 0 -d "${d}s" --warmup 1s --rounds 2 --json "$@" >"$f" || true
		echo "wrote $f"
	}
	if ((${#targets[@]} > 0)); then
		echo "== level $level: 50 connections ping-pong: ${servers[*]}"
		run "$outdir/L$level.json" -c 50 "${targets[@]}"
	fi
	if [[ -n $iter ]]; then
		# iterative's one connection, and every other engine's beside it for
		# scale: a lone ping-pong connection wakes the server for each message.
		echo "== level $level: 1 connection ping-pong, every engine; then iterative with 50"
		run "$outdir/L$level-c1.json" -c 1 $iter "${targets[@]}"
		run "$outdir/starve-iterative.json" -c 50 $iter
	fi
	kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
done
echo "$(date -u +%FT%TZ) end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$outdir/load.txt"
