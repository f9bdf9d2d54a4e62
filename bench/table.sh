#!/usr/bin/env bash
# The live table under connection churn (needs root).
#
#   bench/table.sh        churn with socktrace -tanc off and on, in one run
#   bench/table.sh soak   max churn for $SOAK seconds with socktrace -tanc,
#                         its RSS sampled every $SAMPLE seconds
#   bench/table.sh pile   a paced churn builds a TIME_WAIT pile of $PILE_ROWS
#                         rows; socktrace's RSS per row at its peak, and
#                         after the pile expired
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
PILE_ROWS=${PILE_ROWS:-100000}     # pile: connections, each leaving a timewait socket
PILE_RATE=${PILE_RATE:-2500}       # pile: their pace, in conn/s
PILE_FLAGS=${PILE_FLAGS:--tanpc}   # pile: socktrace's options
PILE_AFTER=${PILE_AFTER:-60}       # pile: seconds sampled after the pile is gone
PILE_BYTES=${PILE_BYTES:-400}      # pile: target, RSS bytes per TIME_WAIT row at the peak
PILE_BACK_PCT=${PILE_BACK_PCT:-20} # pile: target, RSS within this % of idle PILE_AFTER s after the pile is gone
# shellcheck source=bench/lib.sh
. bench/lib.sh

mode=${1:-bench}
if [[ $mode != bench && $mode != soak && $mode != pile ]] || (($# > 1)); then
	echo "usage: bench/table.sh [soak|pile]   (knobs: see bench/README.md)" >&2
	exit 2
fi
if [[ $mode == soak ]]; then soak_ok || exit 2; fi
if [[ $mode == pile ]] && ! ((PILE_ROWS > 0 && PILE_RATE > 0 && PILE_ROWS <= 120 * PILE_RATE && PILE_AFTER <= 600)); then
	fail "PILE_ROWS=$PILE_ROWS PILE_RATE=$PILE_RATE PILE_AFTER=$PILE_AFTER: want the churn within 120 s and PILE_AFTER <= 600"
	exit 2
fi
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

# tw_count NS: the namespace's timewait sockets (/proc/net/sockstat).
tw_count() {
	# shellcheck disable=SC2016 # awk's $
	ip netns exec "$1" awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat
}

# pile: a churn paced at PILE_RATE builds a TIME_WAIT pile of PILE_ROWS rows
# (tcp_tw_reuse off in the namespace, so that every connection leaves its
# timewait socket), then the pile runs out 60 s later. socktrace's VmRSS is
# sampled idle, every 10 s while the pile fills, at its peak, and every 10 s
# while it drains and PILE_AFTER s after that.
run_pile() {
	local ns res t0 t t_prev c c0 idle peak=0 peak_tw=0 rss tw hwm drained= back=0 loop secs
	new_netns pile
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=0
	cmd=(ip netns exec "$ns" "$SOCKTRACE" "$PILE_FLAGS")
	start_tracer /dev/null "$tmp/pile.err" printing "${cmd[@]}"
	sleep 3 # its first tables printed
	idle=$(status_kb "$tracer_pid" VmRSS)
	secs=$(((PILE_ROWS + PILE_RATE - 1) / PILE_RATE + 5))
	echo "pile: socktrace $PILE_FLAGS while $PILE_ROWS connections at $PILE_RATE conn/s leave TIME_WAIT rows"
	printf '  %6s %10s %9s %9s\n' "t s" "VmRSS MiB" "TIME_WAIT" "tracer %"
	printf '  %6s %10s %9s %9s\n' idle "$(mib "$idle")" "$(tw_count "$ns")" -
	churn_cmd "$ns" "$PORT" -duration "${secs}s" -conns "$PILE_ROWS" -rate "$PILE_RATE"
	"${cmd_churn[@]}" >"$tmp/pile.churn" 2>&1 &
	loop=$!
	extra_pids+=("$loop")
	t0=$(now) t_prev=$t0
	c0=$(cpu_ticks "$tracer_pid")
	# A sample every 10 s until the pile has been gone PILE_AFTER s; the
	# peak is the largest RSS while the pile is at its largest.
	while :; do
		sleep 10 &
		wait "$!"
		if ! kill -0 "$tracer_pid" 2>/dev/null; then
			fail "socktrace exited during the pile run:"
			tail -5 "$tmp/pile.err" | sed 's/^/    /' >&2
			return 1
		fi
		t=$(now)
		c=$(cpu_ticks "$tracer_pid")
		rss=$(status_kb "$tracer_pid" VmRSS)
		tw=$(tw_count "$ns")
		printf '  %6.0f %10s %9s %9s\n' "$(awk -v a="$t0" -v b="$t" 'BEGIN { print b - a }')" "$(mib "$rss")" "$tw" \
			"$(cpu_pct "$((c - c0))" "$t_prev" "$t")"
		t_prev=$t c0=$c
		if ((tw >= peak_tw)); then peak_tw=$tw; fi
		if ((tw >= peak_tw * 95 / 100 && rss > peak)); then peak=$rss; fi
		if [[ -z $drained ]] && ((tw == 0 && peak_tw > 0)); then drained=$(now); fi
		if [[ -n $drained ]] && awk -v d="$drained" -v t="$(now)" -v a="$PILE_AFTER" 'BEGIN { exit !(t - d >= a) }'; then
			back=$rss
			break
		fi
		if awk -v a="$t0" -v t="$(now)" -v lim="$((secs + 60 + PILE_AFTER + 60))" 'BEGIN { exit !(t - a > lim) }'; then
			fail "the pile did not drain in time (TIME_WAIT $tw)"
			return 1
		fi
	done
	wait "$loop" || { fail "churn failed:"; tail -5 "$tmp/pile.churn" | sed 's/^/    /' >&2; return 1; }
	hwm=$(status_kb "$tracer_pid" VmHWM)
	stop_tracer "$tmp/pile.err"
	res=$(cat "$tmp/pile.churn")
	echo "  churn: $res"
	stderr_note pile "$tmp/pile.err"
	echo "  connections that got no TIME_WAIT socket (table full): $(tw_overflow "$ns")"
	awk -v idle="$idle" -v peak="$peak" -v rows="$peak_tw" -v hwm="$hwm" -v back="$back" -v after="$PILE_AFTER" \
		-v bytes="$PILE_BYTES" -v pct="$PILE_BACK_PCT" 'BEGIN {
		per = rows ? (peak - idle) * 1024 / rows : 0
		printf "  RSS idle %.1f MiB, at %d TIME_WAIT rows %.1f MiB (VmHWM %.1f MiB): %.0f B per row (target <= %d): %s\n",
			idle / 1024, rows, peak / 1024, hwm / 1024, per, bytes, per <= bytes ? "ok" : "OVER"
		g = 100 * (back - idle) / idle
		printf "  RSS %d s after the pile was gone %.1f MiB, %+.0f %% of idle (target <= %d %%): %s\n",
			after, back / 1024, g, pct, g <= pct ? "ok" : "OVER"
	}'
	del_netns "$ns"
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ $mode == pile ]]; then
	echo "socktrace pile: $CLIENTS clients, $ADDRS addresses, port $PORT; load average $load"
	run_pile
	exit
fi
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
