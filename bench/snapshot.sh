#!/usr/bin/env bash
# Snapshot benchmark: 50k established loopback TCP connections (100k
# sockets) held by several processes in a private network namespace, then
# socktrace, ss and netstat each print the TCP table with and without
# owners, in the same run. Needs root and bin/socktrace (make build).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

CONNS=${CONNS:-50000}
PROCS=${PROCS:-6}          # 20000 fds per process: each holds both ends
HOLD=${HOLD:-300s}         # helpers give up after this even if we die
BIN=${BIN:-bin/socktrace}
NS="socktrace-bench-$$"
TMP=$(mktemp -d)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench-snapshot needs root (network namespaces)"; exit 1; }
[ -x "$BIN" ] || { echo "$BIN missing: run make build"; exit 1; }
go build -o "$TMP/connhold" ./bench/connhold

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"

per=$(( (CONNS + PROCS - 1) / PROCS ))
for i in $(seq 1 "$PROCS"); do
	n=$per
	[ $(( i * per )) -le "$CONNS" ] || n=$(( CONNS - (i - 1) * per ))
	mkfifo "$TMP/ready$i"
	# Each helper gets its own address, so each has a full ephemeral range.
	ip netns exec "$NS" timeout 600 "$TMP/connhold" -addr "127.0.0.$((10 + i)):5000" \
		-conns "$n" -hold "$HOLD" </dev/null >"$TMP/ready$i" &
	pids+=($!)
done
for i in $(seq 1 "$PROCS"); do
	read -r -t 120 _ <"$TMP/ready$i" || { echo "helper $i not ready"; exit 1; }
done
est=$(ip netns exec "$NS" ss -Htn state established | wc -l)
echo "held: $est established TCP sockets in $PROCS processes (netns $NS)"

run() {
	local label=$1; shift
	# %e: elapsed seconds, %M: peak RSS in KB.
	ip netns exec "$NS" /usr/bin/time -f "%e %M" -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" ||
		{ echo "$label failed:"; cat "$TMP/err"; exit 1; }
	read -r secs rss <"$TMP/time"
	printf '%-18s %8.3f s  %8d KB peak RSS\n' "$label" "$secs" "$rss"
}

BIN=$(realpath "$BIN")
for round in 1 2; do
	echo "round $round"
	run "socktrace -tan" "$BIN" -tan
	run "ss -tan" ss -tan
	run "netstat -tan" netstat -tan
	run "socktrace -tanp" "$BIN" -tanp
	run "ss -tanp" ss -tanp
	run "netstat -tanp" netstat -tanp
done
