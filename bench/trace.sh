#!/usr/bin/env bash
# Connection churn with socktrace off and on, in one run (needs root).
#
# Each phase runs bench/cmd/churn at max rate for $DURATION in a fresh
# network namespace (so host traffic doesn't count and no TIME_WAIT pile is
# inherited from the previous phase). socktrace runs in the host namespace,
# where it sees every namespace, filtered to the churn port. See
# bench/README.md for what each number means.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

DURATION=${DURATION:-10s}        # measured phases
CLIENTS=${CLIENTS:-8}            # churn connect loops
ACCEPTORS=${ACCEPTORS:-1}        # churn accept loops per server address
ADDRS=${ADDRS:-8}                # server addresses 127.0.0.1..; each adds an ephemeral port range
PORT=${PORT:-9511}               # outside the ephemeral range, so host clients can't match --port
CHECK_PORT=${CHECK_PORT:-9512}   # the event-count check, apart from the measured phases' leftovers
CHECK_CONNS=${CHECK_CONNS:-10000}
CHECK_RATE=${CHECK_RATE:-5000}   # conn/s of the check run, below socktrace's limit; 0: max rate
SOCKTRACE=${SOCKTRACE:-bin/socktrace}
GO=${GO:-go}
READY_TIMEOUT=${READY_TIMEOUT:-30} # seconds for socktrace to attach
WARMUP=${WARMUP:-3s}             # unmeasured churn first: the first run of a boot is slower
SETTLE=${SETTLE:-2}              # seconds between phases

if [[ $(id -u) != 0 ]]; then
	echo "bench/trace.sh: needs root (network namespaces, eBPF)" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/socktrace-bench.XXXXXX)
netns=()
tracer_pid=
cleanup() {
	if [[ -n $tracer_pid ]] && kill -0 "$tracer_pid" 2>/dev/null; then
		kill -INT "$tracer_pid" 2>/dev/null || true
		sleep 1
		kill -KILL "$tracer_pid" 2>/dev/null || true
	fi
	for ns in "${netns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

clk_tck=$(getconf CLK_TCK)
"$GO" build -o "$tmp/churn" ./bench/cmd/churn

# field KEY LINE: the value of KEY=value in a churn result line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# cpu_ticks PID: utime+stime of a process, in clock ticks. The fields are
# counted after the last ')' because comm may hold spaces.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# new_netns PHASE: a fresh namespace with loopback up, named in $ns. Not run
# in a subshell, so that cleanup learns of it even when the phase fails.
new_netns() {
	ns="socktrace-bench-$$-$1"
	netns+=("$ns")
	ip netns add "$ns"
	ip -n "$ns" link set lo up
}

# The kernel tears a namespace down in a workqueue, purging its ~100k
# TIME_WAIT sockets; let that finish before the next phase is measured.
del_netns() {
	ip netns del "$1"
	sleep "$SETTLE"
}

# churn NS PORT ARGS...: one churn run in NS; prints its result line.
churn() {
	local ns=$1 port=$2
	shift 2
	ip netns exec "$ns" "$tmp/churn" -role both -clients "$CLIENTS" -acceptors "$ACCEPTORS" \
		-addrs "$ADDRS" -port "$port" "$@"
}

# tw_overflow NS: connections that got no TIME_WAIT socket because the
# namespace's TIME_WAIT table was full (net.ipv4.tcp_max_tw_buckets).
tw_overflow() {
	ip netns exec "$1" awk '/^TcpExt:/ { if (!h) { split($0, k); h = 1 } else { split($0, v);
		for (i in k) if (k[i] == "TCPTimeWaitOverflow") print v[i] } }' /proc/net/netstat
}

# start_tracer ERRFILE OUTFILE ARGS...: starts socktrace trace ARGS and waits
# until it says it is attached; sets tracer_pid.
start_tracer() {
	local err=$1 out=$2
	shift 2
	if [[ ! -x $SOCKTRACE ]]; then
		echo "bench/trace.sh: $SOCKTRACE not found: run 'make build' (or make bench-trace)" >&2
		return 1
	fi
	: >"$err" # exists before the poll below, whoever runs first
	"$SOCKTRACE" trace "$@" >"$out" 2>"$err" &
	tracer_pid=$!
	local waited=0
	until grep -q '^socktrace: tracing' "$err"; do
		if ! kill -0 "$tracer_pid" 2>/dev/null; then
			wait "$tracer_pid" || true
			tracer_pid=
			echo "bench/trace.sh: 'socktrace trace $*' exited before it was ready:" >&2
			sed 's/^/    /' "$err" >&2
			return 1
		fi
		if ((waited >= READY_TIMEOUT * 10)); then
			echo "bench/trace.sh: 'socktrace trace $*' did not print 'socktrace: tracing' within ${READY_TIMEOUT}s" >&2
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
}

# stop_tracer ERRFILE: SIGINT, then wait for the exit summary.
stop_tracer() {
	local err=$1 rc=0
	kill -INT "$tracer_pid"
	# socktrace must exit within a second of SIGINT; allow 10 before KILL.
	for _ in $(seq 100); do kill -0 "$tracer_pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$tracer_pid" 2>/dev/null; then
		echo "bench/trace.sh: socktrace did not exit within 10s of SIGINT; killing it" >&2
		kill -KILL "$tracer_pid" 2>/dev/null || true
	fi
	wait "$tracer_pid" || rc=$?
	tracer_pid=
	if ((rc != 0)); then
		echo "bench/trace.sh: socktrace exited with status $rc:" >&2
		tail -5 "$err" | sed 's/^/    /' >&2
		return 1
	fi
}

# summary ERRFILE: "N L R M" from
# "socktrace: <N> events, <L> lost (<R> ring buffer full, <M> recursion misses)".
summary() {
	local line
	line=$(grep -E '^socktrace: [0-9]+ events, [0-9]+ lost' "$1" | tail -1 || true)
	if [[ -z $line ]]; then
		echo "bench/trace.sh: no exit summary ('socktrace: N events, L lost (...)') on socktrace's stderr" >&2
		return 1
	fi
	sed -E 's/^socktrace: ([0-9]+) events, ([0-9]+) lost \(([0-9]+) ring buffer full, ([0-9]+) recursion misses\).*/\1 \2 \3 \4/' <<<"$line"
}

# Results, one row per phase: name conn/s conns churn_cpu events lost ring
# recursion tracer_cpu tw_overflow.
rows=()

run_off() {
	local name=$1 ns res
	new_netns "$name"
	res=$(churn "$ns" "$PORT" -duration "$DURATION")
	echo "  $name: $res"
	rows+=("$name $(field conn_per_s "$res") $(field conns "$res") $(field cpu_pct "$res") - - - - - $(tw_overflow "$ns")")
	del_netns "$ns"
}

run_on() {
	local name=$1 ns res t0 t1 c0 c1 sum cpu
	shift
	# Called as 'run_on ... || failed=1', where set -e is off: every step
	# that can fail returns explicitly.
	new_netns "$name" || return 1
	start_tracer "$tmp/$name.err" /dev/null "$@" --port "$PORT" || return 1
	c0=$(cpu_ticks "$tracer_pid")
	t0=$(date +%s.%N)
	res=$(churn "$ns" "$PORT" -duration "$DURATION") || return 1
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$tracer_pid")
	stop_tracer "$tmp/$name.err" || return 1
	sum=$(summary "$tmp/$name.err") || return 1
	cpu=$(awk -v c="$((c1 - c0))" -v hz="$clk_tck" -v t0="$t0" -v t1="$t1" \
		'BEGIN { printf "%.1f", 100 * c / hz / (t1 - t0) }')
	echo "  $name: $res; socktrace: $sum (events lost ring recursion); cpu $cpu%"
	rows+=("$name $(field conn_per_s "$res") $(field conns "$res") $(field cpu_pct "$res") $sum $cpu $(tw_overflow "$ns")")
	del_netns "$ns"
}

# check: a short unmeasured --json run to a file, counting each of the ten
# kernel transitions of a loopback connection against the connections made.
run_check() {
	local ns res conns events="$tmp/events.json"
	new_netns check
	start_tracer "$tmp/check.err" "$events" --json --port "$CHECK_PORT"
	res=$(churn "$ns" "$CHECK_PORT" -duration 3s -conns "$CHECK_CONNS" -rate "$CHECK_RATE")
	stop_tracer "$tmp/check.err"
	conns=$(field conns "$res")
	echo "  check: $res; socktrace: $(summary "$tmp/check.err") (events lost ring recursion)"
	del_netns "$ns"
	local sum
	sum=$(summary "$tmp/check.err")
	read -r _ l r m <<<"$sum"
	echo
	echo "events delivered vs expected (--json to a file, $conns connections at" \
		"$(field conn_per_s "$res") conn/s, port $CHECK_PORT):"
	# mawk-compatible: pull "key":"value" out of each line without a JSON parser.
	awk -v conns="$conns" '
	function str(key,   m) {
		if (!match($0, "\"" key "\":\"[^\"]*\"")) return ""
		m = substr($0, RSTART, RLENGTH)
		sub("^\"" key "\":\"", "", m)
		sub("\"$", "", m)
		return m
	}
	BEGIN {
		n = split("CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE " \
			"LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE", order)
		for (i = 1; i <= n; i++) want[order[i]] = 1
	}
	{
		ev = str("event"); proto = str("proto")
		if (ev != "state" && ev != "connect" && ev != "close") { other[ev == "" ? "(no event field)" : ev]++; next }
		if (proto != "tcp" && proto != "tcp6") { other[ev " proto=" proto]++; next }
		t = str("old_state") ">" str("new_state")
		# socktrace reports the kernel FIN_WAIT2->CLOSE as entering TIME_WAIT
		# when a timewait socket was made; it is the same kernel transition.
		if (t == "FIN_WAIT2>TIME_WAIT") { t = "FIN_WAIT2>CLOSE"; tw++ }
		if (t in want) got[t]++
		else if (t == "CLOSE>LISTEN" || t == "LISTEN>CLOSE") other["listener " t]++
		else other[ev " " t]++
	}
	END {
		for (i = 1; i <= n; i++) {
			t = order[i]; d = got[t] + 0; total += d
			printf "  %-24s %8d / %-8d %s\n", t, d, conns, (d == conns ? "" : sprintf("(%+d)", d - conns))
			if (t == "FIN_WAIT2>CLOSE") printf "  %-24s %8d\n", "  of which as >TIME_WAIT", tw
		}
		printf "  %-24s %8d / %-8d (%.3f%% missing)\n", "kernel transitions", total, 10 * conns,
			conns ? 100 * (10 * conns - total) / (10 * conns) : 0
		for (k in other) printf "  extra: %-32s %8d\n", k, other[k]
		# The lost counters cover events of every kind, so a missing
		# transition is accounted for as long as missing <= lost.
		missing = 10 * conns - total
		printf "  lost (socktrace summary): %d (%d ring buffer full, %d recursion misses)\n", lost, ring, recur
		if (missing > lost) printf "  SILENT LOSS: %d transitions missing but only %d events counted as lost\n", missing, lost
		else printf "  every missing transition is counted as lost (missing %d <= lost %d)\n", missing, lost
	}' lost="$l" ring="$r" recur="$m" "$events"
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "socktrace trace benchmark: $DURATION of loopback churn per phase," \
	"$CLIENTS clients, $ADDRS addresses, port $PORT; load average $load"

failed=
new_netns warmup
churn "$ns" "$PORT" -duration "$WARMUP" >/dev/null
del_netns "$ns"
run_off off-before
run_on json --json || failed=1
if [[ -z $failed ]]; then
	run_on text || failed=1
fi
run_off off-after

echo
awk -v rows="$(printf '%s\n' "${rows[@]}")" 'BEGIN {
	n = split(rows, line, "\n")
	for (i = 1; i <= n; i++) if (line[i] ~ /^off/) { split(line[i], f, " "); base += f[2]; nb++ }
	base = nb ? base / nb : 0
	printf "%-11s %9s %6s %9s %7s %10s %8s %7s %9s %10s %9s\n", "phase", "conn/s", "ratio", "conns",
		"ev/conn", "lost", "ring", "recur", "loss %", "tracer %", "churn %"
	for (i = 1; i <= n; i++) {
		split(line[i], f, " ")
		# name rate conns churn_cpu events lost ring recursion tracer_cpu tw_overflow
		ratio = base ? sprintf("%.2f", f[2] / base) : "-"
		if (f[5] == "-") {
			printf "%-11s %9.1f %6s %9d %7s %10s %8s %7s %9s %10s %9.1f\n", f[1], f[2], ratio, f[3],
				"-", "-", "-", "-", "-", "-", f[4]
		} else {
			printf "%-11s %9.1f %6s %9d %7.2f %10d %8d %7d %9.3f %10.1f %9.1f\n", f[1], f[2], ratio, f[3],
				f[3] ? f[5] / f[3] : 0, f[6], f[7], f[8], f[3] ? 100 * f[6] / (10 * f[3]) : 0, f[9], f[4]
		}
		if (f[10] > 0) printf "  warning: %s: %d connections got no TIME_WAIT socket (TIME_WAIT table full)\n", f[1], f[10]
	}
	printf "baseline: mean of the off runs, %.1f conn/s\n", base
	# Other work on the machine moves every number; two off runs that
	# disagree say so.
	for (i = 1; i <= n; i++) if (line[i] ~ /^off/) { split(line[i], f, " "); if (f[2] < 0.9 * base || f[2] > 1.1 * base) noisy = 1 }
	if (noisy) print "warning: the off runs differ by more than 10 %: the machine is busy, ratios are unreliable"
}'
cat <<'EOF'
targets:  socktrace trace --json > /dev/null: ratio >= 0.80, tracer CPU <= 25 % of a core
anchors (this VM, same load): libbpf-tools tcpstates ratio 0.35, 0.96 % loss, 21 % CPU;
          minimal cilium/ebpf probe (batched ring buffer) 0.81, 0.15 % loss, 8 % CPU
EOF

if [[ -n $failed ]]; then
	echo "bench/trace.sh: the tracer phases failed (see above)" >&2
	exit 1
fi
run_check
