#!/usr/bin/env bash
# Compare socktrace builds, or modes, under the same churn (needs root):
#   bench/ab.sh MODE[,MODE...] BIN...     MODE: trace, table (-tanc), serve or top
# Each round runs the churn alone, then once with each BIN in each MODE,
# every run in a fresh network namespace; it prints each one's conn/s ratio
# against the round's off run and its CPU per connection. The VM's baseline
# drifts by a third within an hour, so single ratios are noisy; CPU per
# connection is the steadier signal. serve is scraped every second, each
# scrape followed by a /healthz request; the times of both are summed up at
# the end. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-4}
# shellcheck source=bench/lib.sh
. bench/lib.sh

usage() {
	fail "usage: bench/ab.sh MODE[,MODE...] BIN... (MODE: ${modes[*]}; socktrace builds to compare)"
	exit 2
}
(($# >= 2)) || usage
IFS=, read -ra run_modes <<<"$1"
for m in "${run_modes[@]}"; do mode_ok "$m" || usage; done
shift
rounds_ok || exit 2
builds_ok "$@" || exit 2
bench_init

# traffic_us RESULT: the churn's own CPU per connection, in us. The kernel
# programs run in the traffic's context (its syscalls, and the loopback
# softirqs they raise), so their cost shows here, apart from the tracer's.
traffic_us() {
	awk -v p="$(field cpu_pct "$1")" -v e="$(field elapsed_s "$1")" -v c="$(field conns "$1")" \
		'BEGIN { printf "%.2f\n", 1e6 * p / 100 * e / c }'
}

# run_build MODE BIN: one churn run with BIN in MODE; sets conns, ticks (the
# tracer's CPU) and traffic. No subshell, so that cleanup knows the
# namespace and the tracer.
run_build() {
	local c0 res
	SOCKTRACE=$2
	new_netns ab
	start_mode "$1"
	c0=$(cpu_ticks "$tracer_pid")
	res=$(churn "$ns" "$PORT" -duration "$DURATION")
	ticks=$(($(cpu_ticks "$tracer_pid") - c0))
	stop_tracer "$tmp/err"
	del_netns "$ns"
	conns=$(field conns "$res")
	traffic=$(traffic_us "$res")
}

# run_alone: one churn run without socktrace; sets off and off_traffic.
run_alone() {
	local res
	new_netns off
	res=$(churn "$ns" "$PORT" -duration "$DURATION")
	del_netns "$ns"
	off=$(field conns "$res")
	off_traffic=$(traffic_us "$res")
}

# runs: every MODE and BIN pair, named "BIN" with one mode, else "MODE BIN".
runs=()
for m in "${run_modes[@]}"; do
	for bin in "$@"; do runs+=("$m $bin"); done
done
label() { if ((${#run_modes[@]} == 1)); then echo "${1#* }"; else echo "$1"; fi; }

warmup
declare -A ratio_sum us_sum extra_sum
for ((r = 1; r <= ROUNDS; r++)); do
	run_alone
	line="round $r: off $off conns, $off_traffic us/conn"
	# Each round starts with the next run: the VM drifts within a round,
	# and a fixed order gave the same build the same place every time.
	for ((i = 0; i < ${#runs[@]}; i++)); do
		run=${runs[(i + r - 1) % ${#runs[@]}]}
		scrape_log="$tmp/scrapes.${run%% *}.$(basename "${run#* }")"
		run_build "${run%% *}" "${run#* }"
		# CPU per connection: ticks are 1/CLK_TCK s.
		read -r ratio us extra < <(awk -v c="$conns" -v o="$off" -v t="$ticks" -v hz="$clk_tck" \
			-v tr="$traffic" -v otr="$off_traffic" \
			'BEGIN { printf "%.3f %.2f %.2f\n", c / o, 1e6 * t / hz / c, tr - otr }')
		line+=" | $(label "$run") $ratio, $us us/conn, traffic +$extra"
		ratio_sum[$run]=$(awk -v a="${ratio_sum[$run]:-0}" -v b="$ratio" 'BEGIN { print a + b }')
		us_sum[$run]=$(awk -v a="${us_sum[$run]:-0}" -v b="$us" 'BEGIN { print a + b }')
		extra_sum[$run]=$(awk -v a="${extra_sum[$run]:-0}" -v b="$extra" 'BEGIN { print a + b }')
	done
	echo "$line"
done
for run in "${runs[@]}"; do
	awk -v b="$(label "$run")" -v r="${ratio_sum[$run]}" -v u="${us_sum[$run]}" -v x="${extra_sum[$run]}" -v n="$ROUNDS" \
		'BEGIN { printf "%s: mean ratio %.3f, tracer %.2f us of CPU per connection, traffic %+.2f us per connection (%d rounds)\n", b, r / n, u / n, x / n, n }'
done
# median_max COLUMN FILE: the median and the largest of a column of numbers.
median_max() {
	awk -v c="$1" 'NF >= c { print $c }' "$2" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) printf "%d %d\n", v[int((NR + 1) / 2)], v[NR] }'
}

# scrapes_summary RUN: serve's scrapes in every round, from scrape_loop's
# lines ("MS SAMPLES HEALTHZ_MS"): their times beside those of the
# /healthz requests made right after them, which cost serve next to
# nothing, so that the scrape's own cost shows against what any request
# took on the loaded machine.
scrapes_summary() {
	local f="$tmp/scrapes.${1%% *}.$(basename "${1#* }")" ms hz
	[[ -s $f ]] || return 0
	read -ra ms < <(median_max 1 "$f")
	read -ra hz < <(median_max 3 "$f")
	awk -v b="$(label "$1")" -v m="${ms[0]}" -v x="${ms[1]}" -v hm="${hz[0]:--1}" -v hx="${hz[1]:--1}" \
		'{ n += $2 } END { printf "%s: %d scrapes, median %d ms, max %d ms; /healthz after each: median %d ms, max %d ms; %d samples each on average\n", b, NR, m, x, hm, hx, n / NR }' "$f"
}
for run in "${runs[@]}"; do scrapes_summary "$run"; done
