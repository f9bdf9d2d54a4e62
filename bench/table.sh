#!/usr/bin/env bash
# The live table under connection churn (needs root).
#
#   bench/table.sh        churn with socktrace -tanc off and on, in one run
#   bench/table.sh soak   max churn for $SOAK seconds with socktrace -tanc,
#                         its RSS sampled every $SAMPLE seconds
#
# Like netstat, 'socktrace -tanc' prints the table of its own network
# namespace, so it runs inside the churn's (ip netns exec), started before
# the churn, stdout to /dev/null. Each phase gets a fresh namespace. See
# bench/README.md for what each number means.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

INTERVAL=${INTERVAL:-}             # -c's interval in seconds; empty: socktrace's default (1)
CHECK_DURATION=${CHECK_DURATION:-5s} # the unmeasured check run, stdout read
SOAK=${SOAK:-120}                  # soak seconds, at most 3600
SAMPLE=${SAMPLE:-30}               # soak: seconds between RSS samples
FLAT_PCT=${FLAT_PCT:-10}           # soak: allowed growth of the second half's peak RSS over the first's
# shellcheck source=bench/lib.sh
. bench/lib.sh

mode=${1:-bench}
if [[ $mode != bench && $mode != soak ]] || (($# > 1)); then
	echo "usage: bench/table.sh [soak]   (knobs: see bench/README.md)" >&2
	exit 2
fi
if [[ $mode == soak ]] && ! ((SAMPLE > 0 && SOAK >= SAMPLE && SOAK <= 3600)); then
	fail "SOAK=$SOAK SAMPLE=$SAMPLE: want 0 < SAMPLE <= SOAK <= 3600"
	exit 2
fi
rounds_ok || exit 2
bench_init
need_socktrace

# table_cmd NS: sets cmd to socktrace -tanc as a netstat user would run it
# in NS.
table_cmd() { cmd=(ip netns exec "$1" "$SOCKTRACE" -tanc ${INTERVAL:+"$INTERVAL"}); }
cmd=()

# stderr_note NAME ERRFILE: what socktrace said on stderr, if anything (the
# last lines only: it may report loss there).
stderr_note() {
	[[ -s $2 ]] || return 0
	echo "  $1: socktrace stderr ($(wc -l <"$2") lines), last ones:"
	tail -3 "$2" | cut -c1-200 | sed 's/^/    /'
}

table_cols=("tracer %" "out MB/s" "peak MiB" "end MiB")
table_widths=(10 9 9 8)

run_table() {
	local name=$1 ns res t0 t1 c0 c1 w0 w1 hwm rss cpu out
	# Called as 'run_table ... || failed=1', where set -e is off: every
	# step that can fail returns explicitly.
	new_netns "$name" || return 1
	table_cmd "$ns"
	start_tracer /dev/null "$tmp/$name.err" printing "${cmd[@]}" || return 1
	c0=$(cpu_ticks "$tracer_pid")
	w0=$(wchar "$tracer_pid")
	t0=$(now)
	res=$(churn "$ns" "$PORT" -duration "$DURATION") || return 1
	t1=$(now)
	c1=$(cpu_ticks "$tracer_pid")
	w1=$(wchar "$tracer_pid")
	hwm=$(status_kb "$tracer_pid" VmHWM)
	rss=$(status_kb "$tracer_pid" VmRSS)
	stop_tracer "$tmp/$name.err" || return 1
	cpu=$(cpu_pct "$((c1 - c0))" "$t0" "$t1")
	out=$(awk -v b="$((w1 - w0))" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", b / 1e6 / (t1 - t0) }')
	echo "  $name: $res; socktrace: cpu $cpu%, ${out} MB/s of output, VmHWM ${hwm} KiB, VmRSS ${rss} KiB"
	stderr_note "$name" "$tmp/$name.err"
	add_row "$name" "$res" "$cpu" "$out" "$(mib "$hwm")" "$(mib "$rss")"
	del_netns "$ns"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# check: an unmeasured max-churn run with socktrace's stdout read instead of
# thrown away: how many tables it printed, their rows, and every line that
# is neither a table header nor a row (such as the per-table summary of lost
# events and healed rows), the last few shown, with the sums of any
# "N events lost" and "N rows healed" in them.
run_check() {
	local ns res fifo="$tmp/check.out" reader
	new_netns check
	mkfifo "$fifo"
	LC_ALL=C awk '
	/^Active Internet connections/ { if (tables++) done(); rows = 0; delete st; next }
	/^Proto / { next }
	# netstat columns: Proto Recv-Q Send-Q Local Foreign State [more...]
	/^tcp6? / { rows++; if ($6 ~ /^[A-Z][A-Z0-9_]*$/) st[$6]++; else st["?"]++; next }
	{
		other++; last[other % 3] = substr($0, 1, 200)
		# Totals when a line says "N events lost" or "N rows healed"; the
		# lines are shown whatever they say.
		if (match($0, /[0-9]+ events? lost/)) { lost += substr($0, RSTART, RLENGTH) + 0; said++ }
		if (match($0, /[0-9]+ rows? healed/)) { healed += substr($0, RSTART, RLENGTH) + 0; said++ }
	}
	function done() {
		n++; sum += rows
		if (n == 1 || rows < min) min = rows
		if (rows > max) max = rows
		states = ""; k = 0
		for (s in st) if (k++ < 12) states = states " " s "=" st[s]
	}
	END {
		if (tables) done()
		printf "  tables printed: %d; rows per table: min %d, mean %.0f, max %d\n", tables, min, n ? sum / n : 0, max
		printf "  last table by state:%s\n", states == "" ? " (empty)" : states
		printf "  other lines (not a header or a row): %d%s\n", other, other ? ", the last ones:" : ""
		for (i = other - 2; i <= other; i++) if (i > 0) print "    " last[i % 3]
		if (said) printf "  in all, those lines say: %d events lost, %d rows healed\n", lost, healed
	}' <"$fifo" >"$tmp/check.txt" &
	reader=$!
	extra_pids+=("$reader")
	table_cmd "$ns"
	start_tracer "$fifo" "$tmp/check.err" printing "${cmd[@]}"
	res=$(churn "$ns" "$PORT" -duration "$CHECK_DURATION")
	stop_tracer "$tmp/check.err"
	wait "$reader"
	echo
	echo "check: socktrace -tanc with stdout read, $CHECK_DURATION of max churn: $res"
	cat "$tmp/check.txt"
	stderr_note check "$tmp/check.err"
	del_netns "$ns"
}

# soak: max churn for $SOAK seconds in one namespace (in back-to-back
# generator runs of at most 120 s, its limit), socktrace -tanc's memory
# sampled every $SAMPLE seconds.
run_soak() {
	local ns loop t0 t t_prev c0 c w0 w i n rss hwm tw cpu out samples=()
	new_netns soak
	table_cmd "$ns"
	start_tracer /dev/null "$tmp/soak.err" printing "${cmd[@]}"
	(
		child=
		trap '[[ -z $child ]] || kill -TERM "$child" 2>/dev/null; exit 143' TERM
		for ((left = SOAK; left > 0; left -= 120)); do
			churn_cmd "$ns" "$PORT" -duration "$((left < 120 ? left : 120))s"
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
	echo "soak: ${cmd[*]} under max churn for ${SOAK}s, sampled every ${SAMPLE}s"
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

load=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ $mode == soak ]]; then
	echo "socktrace -tanc soak: $CLIENTS clients, $ADDRS addresses, port $PORT; load average $load"
	run_soak
	exit
fi

echo "socktrace -tanc benchmark: $DURATION of loopback churn per phase," \
	"$CLIENTS clients, $ADDRS addresses, port $PORT; load average $load"
failed=
warmup
for ((round = 1; round <= ROUNDS; round++)); do
	run_off "$(phase off-before "$round")"
	run_table "$(phase table "$round")" || { failed=1; break; }
done
run_off off-after

echo
print_table
cat <<'EOF'
targets:  socktrace -tanc > /dev/null: ratio >= 0.90, tracer CPU <= 8 % of a core,
          0 events lost or every lost one counted and healed (see check); RSS flat (make bench-table-soak)
EOF

if [[ -n $failed ]]; then
	fail "the table phase failed (see above)"
	exit 1
fi
run_check
