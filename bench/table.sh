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
# shellcheck source=bench/lib.sh
. bench/lib.sh

mode=${1:-bench}
if [[ $mode != bench && $mode != soak ]] || (($# > 1)); then
	echo "usage: bench/table.sh [soak]   (knobs: see bench/README.md)" >&2
	exit 2
fi
if [[ $mode == soak ]]; then soak_ok || exit 2; fi
rounds_ok || exit 2
bench_init
need_socktrace

# table_cmd NS: sets cmd to socktrace -tanc as a netstat user would run it
# in NS.
table_cmd() { cmd=(ip netns exec "$1" "$SOCKTRACE" -tanc ${INTERVAL:+"$INTERVAL"}); }

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

load=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ $mode == soak ]]; then
	echo "socktrace -tanc soak: $CLIENTS clients, $ADDRS addresses, port $PORT; load average $load"
	run_soak printing table_cmd
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
