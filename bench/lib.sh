# shellcheck shell=bash
# Shared by the churn benchmarks (bench/trace.sh, bench/table.sh); sourced,
# never run. It holds what they have in common: the knobs, root check and
# cleanup, one fresh network namespace per phase, the churn generator and
# its result line, a process's CPU and memory from /proc, starting and
# stopping socktrace, and the result table. See bench/README.md.
#
# A script sets its own knobs, sources this file, calls bench_init, and
# then runs phases; the table columns between conns and churn % are its own
# (table_cols, table_widths).

DURATION=${DURATION:-10s}          # measured phases
CLIENTS=${CLIENTS:-8}              # churn connect loops
ACCEPTORS=${ACCEPTORS:-1}          # churn accept loops per server address
ADDRS=${ADDRS:-8}                  # server addresses 127.0.0.1..; each adds an ephemeral port range
PORT=${PORT:-9511}                 # outside the ephemeral range, so host clients can't match --port
SOCKTRACE=${SOCKTRACE:-bin/socktrace}
GO=${GO:-go}
READY_TIMEOUT=${READY_TIMEOUT:-30} # seconds for socktrace to get ready
SOAK=${SOAK:-120}                  # soak seconds, at most 3600
SAMPLE=${SAMPLE:-30}               # soak: seconds between RSS samples
FLAT_PCT=${FLAT_PCT:-10}           # soak: allowed growth of the second half's peak RSS over the first's
WARMUP=${WARMUP:-3s}               # unmeasured churn first: the first run of a boot is slower
SETTLE=${SETTLE:-2}                # seconds between phases
ROUNDS=${ROUNDS:-1}                # off and on phases this many times: the VM drifts within minutes

bench=bench/$(basename "$0") # the name in every message
tmp=
netns=()
tracer_pid=   # the socktrace under measurement; cleanup stops it
extra_pids=() # other background processes of the script; cleanup kills them
clk_tck=$(getconf CLK_TCK)

# fail MSG...: one line on stderr, prefixed with the script's name.
fail() { echo "$bench: $*" >&2; }

cleanup() {
	if [[ -n $tracer_pid ]] && kill -0 "$tracer_pid" 2>/dev/null; then
		kill -INT "$tracer_pid" 2>/dev/null || true
		sleep 1
		kill -KILL "$tracer_pid" 2>/dev/null || true
	fi
	local p
	for p in "${extra_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	local ns
	for ns in "${netns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	[[ -z $tmp ]] || rm -rf "$tmp"
}

# bench_init: root check, scratch directory, cleanup on any exit, and the
# churn generator built into $tmp/churn.
bench_init() {
	if [[ $(id -u) != 0 ]]; then
		fail "needs root (network namespaces, eBPF)"
		exit 1
	fi
	tmp=$(mktemp -d /tmp/socktrace-bench.XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	"$GO" build -o "$tmp/churn" ./bench/cmd/churn
	# Another benchmark on the same two cores moves every number.
	local others
	others=$(pgrep -x churn | tr '\n' ' ' || true)
	if [[ -n $others ]]; then
		fail "warning: another churn generator is running (pid $others): the numbers will be off"
	fi
}

# need_socktrace: the binary under test exists.
need_socktrace() {
	if [[ ! -x $SOCKTRACE ]]; then
		fail "$SOCKTRACE not found: run 'make build'"
		return 1
	fi
}

# field KEY LINE: the value of KEY=value in a churn result line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# now: wall clock in seconds, with nanoseconds.
now() { date +%s.%N; }

# cpu_ticks PID: utime+stime of a process, in clock ticks. The fields are
# counted after the last ')' because comm may hold spaces.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# cpu_pct TICKS T0 T1: TICKS of CPU over the wall time T0..T1, in % of one core.
cpu_pct() {
	awk -v c="$1" -v hz="$clk_tck" -v t0="$2" -v t1="$3" 'BEGIN { printf "%.1f", 100 * c / hz / (t1 - t0) }'
}

# status_kb PID KEY: a memory line of /proc/PID/status (VmRSS, VmHWM), in KiB.
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# wchar PID: bytes the process has passed to write(2) so far, /dev/null
# included (/proc/PID/io).
wchar() { awk '$1 == "wchar:" { print $2 }' "/proc/$1/io"; }

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

# churn_cmd NS PORT ARGS...: sets cmd_churn to one churn run in NS. Run in
# the background, its $! is the generator itself ('ip netns exec' execs).
churn_cmd() {
	local ns=$1 port=$2
	shift 2
	cmd_churn=(ip netns exec "$ns" "$tmp/churn" -role both -clients "$CLIENTS" -acceptors "$ACCEPTORS"
		-addrs "$ADDRS" -port "$port" "$@")
}
cmd_churn=()

# churn NS PORT ARGS...: one churn run in NS; prints its result line.
churn() {
	churn_cmd "$@"
	"${cmd_churn[@]}"
}

# tw_overflow NS: connections that got no TIME_WAIT socket because the
# namespace's TIME_WAIT table was full (net.ipv4.tcp_max_tw_buckets).
tw_overflow() {
	# shellcheck disable=SC2016 # awk's $
	ip netns exec "$1" awk '/^TcpExt:/ { if (!h) { split($0, k); h = 1 } else { split($0, v);
		for (i in k) if (k[i] == "TCPTimeWaitOverflow") print v[i] } }' /proc/net/netstat
}

# warmup: unmeasured churn in its own namespace.
warmup() {
	new_netns warmup
	churn "$ns" "$PORT" -duration "$WARMUP" >/dev/null
	del_netns "$ns"
}

# attached PID ERRFILE: socktrace trace says so on stderr once its programs
# are attached.
attached() { grep -q '^socktrace: tracing' "$2"; }

# printing PID ERRFILE: ready once socktrace -c (exec'd by 'ip netns exec'
# under the same pid) has begun writing its first table. stdout is
# /dev/null, so the sign is /proc/PID/io's wchar, which counts bytes written
# anywhere, exceeding what went to stderr. Reading it costs the tracer
# nothing, unlike a pipe to a reader; a fixed sleep would depend on how long
# attaching takes. Until the exec, PID is 'ip' (or a wrapper script).
printing() {
	[[ $(cat "/proc/$1/comm" 2>/dev/null) == "$(basename "$SOCKTRACE" | cut -c1-15)" ]] || return 1
	local w
	w=$(wchar "$1" 2>/dev/null) || return 1
	((w > $(stat -c %s "$2")))
}

# start_tracer OUT ERR READY CMD...: starts CMD (socktrace, possibly behind
# 'ip netns exec', which execs it under the same pid) with stdout to OUT and
# stderr to ERR, and polls 'READY PID ERR' every 0.1 s until it succeeds;
# sets tracer_pid.
start_tracer() {
	local out=$1 err=$2 ready=$3
	shift 3
	need_socktrace || return 1
	: >"$err" # exists before the poll below, whoever runs first
	"$@" >"$out" 2>"$err" &
	tracer_pid=$!
	local waited=0 what="$*"
	what=${what#ip netns exec * } # the command as the user would type it
	what=${what#"$SOCKTRACE" }
	until "$ready" "$tracer_pid" "$err"; do
		if ! kill -0 "$tracer_pid" 2>/dev/null; then
			wait "$tracer_pid" || true
			tracer_pid=
			fail "'socktrace $what' exited before it was ready:"
			sed 's/^/    /' "$err" | tail -20 >&2
			return 1
		fi
		if ((waited >= READY_TIMEOUT * 10)); then
			fail "'socktrace $what' was not ready within ${READY_TIMEOUT}s"
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
}

# counting PID ERRFILE: socktrace top (not on a terminal) says so on stderr
# once its programs are attached.
counting() { grep -q '^socktrace: counting' "$2"; }

# modes: what start_mode runs.
modes=(trace table serve top)

# mode_ok MODE: one of modes.
mode_ok() { [[ " ${modes[*]} " == *" $1 "* ]]; }

# start_mode trace|table|serve|top: $SOCKTRACE as the comparison scripts
# (ab.sh, progs.sh) run it beside the churn in $ns: 'trace --json --port' in
# the host namespace, '-tanc' in $ns, 'serve' in $ns, scraped every second
# as Prometheus would (each scrape's time and size, and a /healthz's time,
# appended to $scrape_log, if set), or 'top --netns' (which, like -tanc,
# sees only $ns); stdout to /dev/null, stderr to $tmp/err.
start_mode() {
	case $1 in
	trace) start_tracer /dev/null "$tmp/err" attached "$SOCKTRACE" trace --json --port "$PORT" ;;
	table) start_tracer /dev/null "$tmp/err" printing ip netns exec "$ns" "$SOCKTRACE" -tanc ;;
	serve)
		start_tracer /dev/null "$tmp/err" healthy ip netns exec "$ns" "$SOCKTRACE" serve
		scrape_loop 1 "${scrape_log:-/dev/null}"
		;;
	top) start_tracer /dev/null "$tmp/err" counting "$SOCKTRACE" top --netns "$ns" ;;
	*)
		fail "start_mode $1: want one of ${modes[*]}"
		return 1
		;;
	esac
}

# scrape_loop SECONDS OUT: in the background, fetches serve's /metrics in
# $ns every SECONDS, as Prometheus would, then its /healthz, and appends a
# line per scrape to OUT: "MS SAMPLES HEALTHZ_MS", the scrape's time in ms,
# how many samples it held, and the /healthz request's time. /healthz does
# next to nothing: its time is what any request costs on the loaded
# machine (the fetch, serve being scheduled), the floor the scrape's own
# cost stands on.
scrape_loop() {
	# shellcheck disable=SC2016 # for the inner bash
	ip netns exec "$ns" bash -c 'while :; do
		t0=$(date +%s%N)
		exec 3<>/dev/tcp/127.0.0.1/9464 || exit
		printf "GET /metrics HTTP/1.0\r\n\r\n" >&3
		n=$(grep -c "^socktrace_" <&3)
		exec 3<&-
		t1=$(date +%s%N)
		exec 3<>/dev/tcp/127.0.0.1/9464 || exit
		printf "GET /healthz HTTP/1.0\r\n\r\n" >&3
		cat <&3 >/dev/null
		exec 3<&-
		t2=$(date +%s%N)
		echo "$(( (t1 - t0) / 1000000 )) $n $(( (t2 - t1) / 1000000 ))"
		sleep "$1"
	done' scrape "$1" >>"$2" 2>/dev/null &
	extra_pids+=($!)
}

# healthy PID ERRFILE: socktrace serve in $ns answers /healthz with 200.
healthy() {
	ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9464 && printf "GET /healthz HTTP/1.0\r\n\r\n" >&3 && head -1 <&3' 2>/dev/null | grep -q ' 200 '
}

# stop_tracer ERR: SIGINT, then wait for socktrace to exit with status 0.
stop_tracer() {
	local err=$1 rc=0
	kill -INT "$tracer_pid"
	# socktrace must exit within a second of SIGINT; allow 10 before KILL.
	for _ in $(seq 100); do kill -0 "$tracer_pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$tracer_pid" 2>/dev/null; then
		fail "socktrace did not exit within 10s of SIGINT; killing it"
		kill -KILL "$tracer_pid" 2>/dev/null || true
	fi
	wait "$tracer_pid" || rc=$?
	tracer_pid=
	if ((rc != 0)); then
		fail "socktrace exited with status $rc:"
		tail -5 "$err" | sed 's/^/    /' >&2
		return 1
	fi
}

# The result table: one row per phase, with the script's own columns between
# conns and churn %. table_cols and table_widths name and size them; rows
# hold the values already formatted, '-' where a phase has none.
table_cols=()
table_widths=()
rows=()

# add_row NAME RESULT VALUES...: a phase's row from its churn result line,
# its namespace's TIME_WAIT overflow ($ns) and the script's column values.
add_row() {
	local name=$1 res=$2
	shift 2
	rows+=("$name $(field conn_per_s "$res") $(field conns "$res") $(field cpu_pct "$res") $(tw_overflow "$ns") $*")
}

# phase NAME ROUND: NAME as is with one round; else NAME (less a -before)
# and the round.
phase() {
	if ((ROUNDS == 1)); then echo "$1"; else echo "${1%-before}-$2"; fi
}

# builds_ok BIN...: every BIN (a socktrace build to measure) is an executable.
builds_ok() {
	local bin
	for bin in "$@"; do
		[[ -x $bin ]] && continue
		fail "$bin: not an executable"
		return 1
	done
}

# rounds_ok: ROUNDS is a number from 1 to 10.
rounds_ok() {
	[[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 10)) && return 0
	fail "ROUNDS=$ROUNDS: want 1 to 10"
	return 1
}

# run_off NAME: churn alone, in a fresh namespace.
run_off() {
	local name=$1 res
	new_netns "$name"
	res=$(churn "$ns" "$PORT" -duration "$DURATION")
	echo "  $name: $res"
	local dashes=()
	for _ in "${table_cols[@]}"; do dashes+=(-); done
	add_row "$name" "$res" "${dashes[@]}"
	del_netns "$ns"
}

# print_table: the rows, each conn/s as a ratio: an off run's of the mean
# of all off runs, an on run's of the mean of the off runs just before and
# after it (the machine drifts: neighbours are the fairest baseline). With
# more than one round, a line per on phase sums its rounds up.
print_table() {
	local widths="${table_widths[*]}" header
	header=$(printf '%s\t' "${table_cols[@]}")
	awk -v rows="$(printf '%s\n' "${rows[@]}")" -v widths="$widths" -v header="${header%$'\t'}" 'BEGIN {
	n = split(rows, line, "\n")
	nc = split(widths, w, " ")
	split(header, h, "\t")
	for (c = 1; c <= nc; c++) if (h[c] == "tracer %") cpucol = c
	for (i = 1; i <= n; i++) {
		split(line[i], f, " ")
		name[i] = f[1]; rate[i] = f[2]
		if (f[1] ~ /^off/) { base += f[2]; nb++; isoff[i] = 1 }
	}
	base = nb ? base / nb : 0
	printf "%-11s %9s %6s %9s", "phase", "conn/s", "ratio", "conns"
	for (c = 1; c <= nc; c++) printf " %" w[c] "s", h[c]
	printf " %9s\n", "churn %"
	for (i = 1; i <= n; i++) {
		# name rate conns churn_cpu tw_overflow values...
		split(line[i], f, " ")
		ref = isoff[i] ? base : nearby(i)
		ratio = ref ? f[2] / ref : 0
		printf "%-11s %9.1f %6s %9d", f[1], f[2], ref ? sprintf("%.2f", ratio) : "-", f[3]
		for (c = 1; c <= nc; c++) printf " %" w[c] "s", f[5 + c]
		printf " %9.1f\n", f[4]
		if (f[5] > 0) printf "  warning: %s: %d connections got no TIME_WAIT socket (TIME_WAIT table full)\n", f[1], f[5]
		if (!isoff[i] && ref) {
			p = f[1]; sub(/-[0-9]+$/, "", p)
			if (!(p in runs)) order[++np] = p
			runs[p]++; sum[p] += ratio
			if (!(p in lo) || ratio < lo[p]) lo[p] = ratio
			if (!(p in hi) || ratio > hi[p]) hi[p] = ratio
			if (cpucol) cpu[p] += f[5 + cpucol]
		}
	}
	printf "baseline: mean of the off runs, %.1f conn/s; an on run is compared with the off runs next to it\n", base
	for (k = 1; k <= np; k++) {
		p = order[k]
		if (runs[p] < 2) continue
		printf "%s: ratio %.3f, mean of %d rounds (%.2f to %.2f)", p, sum[p] / runs[p], runs[p], lo[p], hi[p]
		if (cpucol) printf "; tracer %.1f %% of a core", cpu[p] / runs[p]
		printf "\n"
	}
	# Other work on the machine moves every number; two off runs that
	# disagree say so.
	for (i = 1; i <= n; i++) if (isoff[i] && (rate[i] < 0.9 * base || rate[i] > 1.1 * base)) noisy = 1
	if (noisy) print "warning: the off runs differ by more than 10 %: the machine is busy or drifting, ratios are unreliable (ROUNDS=3 gives a mean)"
}
# nearby(i): the mean conn/s of the off runs just before and after row i.
function nearby(i,   j, s, m) {
	for (j = i - 1; j >= 1; j--) if (isoff[j]) { s += rate[j]; m++; break }
	for (j = i + 1; j <= n; j++) if (isoff[j]) { s += rate[j]; m++; break }
	return m ? s / m : base
}'
}

# stderr_note NAME ERRFILE: what socktrace said on stderr, if anything (the
# last lines only: it may report loss there).
stderr_note() {
	[[ -s $2 ]] || return 0
	echo "  $1: socktrace stderr ($(wc -l <"$2") lines), last ones:"
	tail -3 "$2" | cut -c1-200 | sed 's/^/    /'
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# soak_ok: SOAK and SAMPLE make a soak.
soak_ok() {
	((SAMPLE > 0 && SOAK >= SAMPLE && SOAK <= 3600)) && return 0
	fail "SOAK=$SOAK SAMPLE=$SAMPLE: want 0 < SAMPLE <= SOAK <= 3600"
	return 1
}

cmd=()               # the socktrace a soak runs (run_soak's CMDFN sets it)
soak_out=/dev/null   # its stdout
soak_churn_args=()   # the churn's own flags in a soak
soak_started=:       # run once the socktrace is ready (serve's scraper)

# run_soak READY CMDFN: max churn for $SOAK seconds in one namespace (in
# back-to-back generator runs of at most 120 s, its limit, each with
# $soak_churn_args), beside the socktrace that 'CMDFN NS' puts in cmd,
# started with 'start_tracer $soak_out ERR READY' (then $soak_started), its
# memory sampled every $SAMPLE seconds.
run_soak() {
	local ready=$1 cmdfn=$2 ns loop t0 t t_prev c0 c w0 w i n rss hwm tw cpu out samples=()
	new_netns soak
	"$cmdfn" "$ns"
	start_tracer "$soak_out" "$tmp/soak.err" "$ready" "${cmd[@]}"
	"$soak_started"
	(
		child=
		trap '[[ -z $child ]] || kill -TERM "$child" 2>/dev/null; exit 143' TERM
		for ((left = SOAK; left > 0; left -= 120)); do
			churn_cmd "$ns" "$PORT" -duration "$((left < 120 ? left : 120))s" "${soak_churn_args[@]}"
			"${cmd_churn[@]}" &
			child=$!
			wait "$child"
			child=
		done
	) >"$tmp/soak.churn" 2>&1 &
	loop=$!
	extra_pids+=("$loop")
	t0=$(now)
	c0=$(cpu_ticks "$tracer_pid")
	w0=$(wchar "$tracer_pid")
	echo "soak: ${cmd[*]} under churn (${soak_churn_args[*]:-max rate}) for ${SOAK}s, sampled every ${SAMPLE}s"
	printf '  %6s %10s %10s %9s %9s %9s\n' "t s" "VmRSS MiB" "VmHWM MiB" "tracer %" "out MB/s" "TIME_WAIT"
	n=$((SOAK / SAMPLE))
	for ((i = 0; i <= n; i++)); do
		# In the background, so that a signal to the script is handled now,
		# not when the sleep ends.
		sleep "$(awk -v t0="$t0" -v due="$((i * SAMPLE))" -v t="$(now)" 'BEGIN { s = t0 + due - t; print (s > 0 ? s : 0) }')" &
		wait "$!"
		if ! kill -0 "$tracer_pid" 2>/dev/null; then
			fail "socktrace exited during the soak:"
			tail -5 "$tmp/soak.err" | sed 's/^/    /' >&2
			return 1
		fi
		t=$(now)
		c=$(cpu_ticks "$tracer_pid")
		w=$(wchar "$tracer_pid")
		rss=$(status_kb "$tracer_pid" VmRSS)
		hwm=$(status_kb "$tracer_pid" VmHWM)
		# shellcheck disable=SC2016 # awk's $
		tw=$(ip netns exec "$ns" awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat)
		if ((i == 0)); then cpu=-; out=-; else
			cpu=$(cpu_pct "$((c - c0))" "$t_prev" "$t")
			out=$(awk -v b="$((w - w0))" -v t0="$t_prev" -v t1="$t" 'BEGIN { printf "%.1f", b / 1e6 / (t1 - t0) }')
		fi
		printf '  %6.0f %10s %10s %9s %9s %9s\n' "$(awk -v a="$t0" -v b="$t" 'BEGIN { print b - a }')" \
			"$(mib "$rss")" "$(mib "$hwm")" "$cpu" "$out" "$tw"
		samples+=("$rss")
		t_prev=$t c0=$c w0=$w
	done
	# The generator stops on its own at SOAK; allow it 30 s more.
	for _ in $(seq 300); do kill -0 "$loop" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$loop" 2>/dev/null; then
		fail "the churn generator did not stop on time"
		return 1
	fi
	wait "$loop" || { fail "churn failed:"; tail -5 "$tmp/soak.churn" | sed 's/^/    /' >&2; return 1; }
	stop_tracer "$tmp/soak.err"
	echo "  churn runs:"
	sed 's/^/    /' "$tmp/soak.churn" | head -40
	stderr_note soak "$tmp/soak.err"
	echo "  connections that got no TIME_WAIT socket (table full): $(tw_overflow "$ns")"
	# Flat: the second half's peak within FLAT_PCT % of the first half's,
	# not counting the sample taken at start.
	awk -v s="${samples[*]}" -v pct="$FLAT_PCT" 'BEGIN {
		n = split(s, r, " ")
		if (n < 3) { print "  too few samples to judge flatness (SOAK / SAMPLE < 2)"; exit }
		h = int((n + 1) / 2)
		for (i = 2; i <= n; i++) if (i <= h) { if (r[i] > a) a = r[i] } else if (r[i] > b) b = r[i]
		g = a ? 100 * (b - a) / a : 0
		printf "  RSS peak, first half %.1f MiB, second half %.1f MiB (%+.1f %%): %s\n", a / 1024, b / 1024, g,
			g <= pct ? "flat" : "GROWING (more than " pct " %)"
	}'
	del_netns "$ns"
}
