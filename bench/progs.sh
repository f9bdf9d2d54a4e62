#!/usr/bin/env bash
# What each kernel program costs a connection (needs root):
#   bench/progs.sh trace|table [BIN...]
# For each BIN (default $SOCKTRACE), ROUNDS times in turn: socktrace
# (trace --json --port, or -tanc in the churn's namespace) beside a churn
# paced at RATE conn/s, with the kernel's BPF run statistics on
# (kernel.bpf_stats_enabled). Prints, per program, its runs, nanoseconds per
# run and nanoseconds per connection, and the sum per connection. RESET=1
# has the churn's clients abort every connection (SO_LINGER 0): a reset
# sent and one received per connection, and no TIME_WAIT.
#
# The programs run inside the churn's syscalls and softirqs, so the conn/s
# ratio shows their cost only through the VM's noise (+-0.04 over four
# rounds). Their own run time, at a rate that leaves the CPUs half idle,
# moves by ~10 % between runs instead. The statistics add two clock reads
# to every run: a program that returns at once measures 50-65 ns per run
# here. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
RATE=${RATE:-10000}
RESET=${RESET:-0}
# shellcheck source=bench/lib.sh
. bench/lib.sh

mode=${1:-}
if ! mode_ok "$mode"; then
	fail "usage: bench/progs.sh trace|table|serve|top [BIN...] (socktrace builds; default $SOCKTRACE)"
	exit 2
fi
shift
builds=("$@")
((${#builds[@]})) || builds=("$SOCKTRACE")
rounds_ok || exit 2
builds_ok "${builds[@]}" || exit 2
command -v bpftool >/dev/null || {
	fail "needs bpftool (apt-get install bpftool)"
	exit 1
}
bench_init
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -q kernel.bpf_stats_enabled="$stats_was"; cleanup' EXIT

# prog_stats: "id name run_time_ns run_cnt" for every program of a tracing
# type that is loaded now. bpftool prints a program's first line as
# "ID: TYPE  name NAME  tag ... run_time_ns N run_cnt M" once stats are on.
prog_stats() {
	bpftool prog show | awk '/^[0-9]+: (tracing|tracepoint|raw_tracepoint) / {
		id = $1 + 0; name = "?"; t = 0; n = 0
		for (i = 2; i < NF; i++) {
			if ($i == "name") name = $(i + 1)
			if ($i == "run_time_ns") t = $(i + 1)
			if ($i == "run_cnt") n = $(i + 1)
		}
		print id, name, t, n }'
}

# measure BIN: one paced churn beside BIN; writes "name runs ns" per
# program, for the churn's connections, then "conns N", to $tmp/measured.
# No subshell, so that cleanup knows the namespace and the tracer.
measure() {
	SOCKTRACE=$1
	new_netns progs
	prog_stats >"$tmp/others"
	start_mode "$mode"
	prog_stats >"$tmp/before"
	local res
	local reset=()
	[[ $RESET == 1 ]] && reset=(-reset)
	res=$(churn "$ns" "$PORT" -duration "$DURATION" -rate "$RATE" "${reset[@]}")
	prog_stats >"$tmp/after"
	stop_tracer "$tmp/err"
	del_netns "$ns"
	# Programs are matched by id; those loaded before socktrace started are
	# another tool's.
	{
		join <(sort "$tmp/before") <(sort "$tmp/after") | join -v 1 - <(sort "$tmp/others") |
			awk '$7 > $4 { print $2, $7 - $4, $6 - $3 }'
		echo "conns $(field conns "$res")"
	} >"$tmp/measured"
}

sysctl -q kernel.bpf_stats_enabled=1
warmup
declare -A runs nsec conns
names=()
for ((r = 1; r <= ROUNDS; r++)); do
	for ((i = 0; i < ${#builds[@]}; i++)); do
		bin=${builds[(i + r - 1) % ${#builds[@]}]}
		measure "$bin"
		while read -r name a b; do
			if [[ $name == conns ]]; then
				conns[$bin]=$((${conns[$bin]:-0} + a))
				continue
			fi
			[[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
			runs[$bin,$name]=$((${runs[$bin,$name]:-0} + a))
			nsec[$bin,$name]=$((${nsec[$bin,$name]:-0} + b))
		done <"$tmp/measured"
	done
done
for bin in "${builds[@]}"; do
	echo "$bin: $mode, ${conns[$bin]} connections at $RATE conn/s ($ROUNDS rounds)$([[ $RESET == 1 ]] && echo ", each reset")"
	for name in "${names[@]}"; do
		[[ -n ${runs[$bin,$name]:-} ]] || continue
		echo "$name ${runs[$bin,$name]} ${nsec[$bin,$name]}"
	done | awk -v c="${conns[$bin]}" '
		{ printf "  %-20s %6.2f runs/conn %7.1f ns/run %7.0f ns/conn\n", $1, $2 / c, $3 / $2, $3 / c; sum += $3 / c }
		END { printf "  %-20s %37.0f ns/conn\n", "all programs", sum }'
done
