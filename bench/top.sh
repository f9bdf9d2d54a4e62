#!/usr/bin/env bash
# socktrace top's memory under churn to many peers (needs root):
#
#   bench/top.sh soak   max churn for $SOAK seconds to $REMOTES distinct
#                       remote endpoints, with 'socktrace top --json -n 1',
#                       its RSS sampled every $SAMPLE seconds
#
# top keeps at most --max-keys (10,000) rows; the churn's clients connect to
# REMOTES addresses (bench/cmd/churn -remotes), far more groups than that,
# so the row "other" takes the rest and memory must stay flat. Its speed
# against -tanc is bench/ab.sh's (make bench-top). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

REMOTES=${REMOTES:-50000} # distinct remote addresses the clients connect to
# shellcheck source=bench/lib.sh
. bench/lib.sh

if [[ ${1:-} != soak ]] || (($# > 1)); then
	echo "usage: bench/top.sh soak   (knobs: see bench/README.md)" >&2
	exit 2
fi
soak_ok || exit 2
bench_init
need_socktrace

# top_cmd NS: sets cmd to socktrace top seeing only NS, its JSON cut to the
# first row, the other row and the summary of each interval: the output
# stays small, the work per interval is whole (every row is sorted).
top_cmd() { cmd=("$SOCKTRACE" top --netns "$1" --json -n 1); }

soak_out=$tmp/soak.out
soak_churn_args=(-remotes "$REMOTES")
echo "socktrace top soak: $CLIENTS clients to $REMOTES remote addresses, port $PORT;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
run_soak counting top_cmd
# What the last interval's summary says: the rows kept, the events the
# other row took, and what the kernel lost over the whole soak.
awk '/"summary":true/ { last = $0; if (match($0, /"lost":[0-9]+/)) lost += substr($0, RSTART + 7, RLENGTH - 7) + 0 }
END {
	if (!last) { print "  no summary printed"; exit 1 }
	split("rows other_events time_wait connects", k, " ")
	line = "  last interval:"
	for (i = 1; i <= 4; i++) if (match(last, "\"" k[i] "\":[0-9]+")) line = line " " substr(last, RSTART + 1, RLENGTH - 1)
	print line "; events lost over the soak: " lost
}' "$soak_out" | tr -d '"'
