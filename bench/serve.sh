#!/usr/bin/env bash
# socktrace serve's memory under churn (needs root):
#
#   bench/serve.sh soak   churn for $SOAK seconds (max rate, or $RATE
#                         conn/s) beside 'socktrace serve' with every
#                         opt-in label, in the churn's namespace, scraped
#                         every $SCRAPE seconds, its RSS sampled every
#                         $SAMPLE seconds (run_soak in lib.sh)
#
# Its speed against -tanc is bench/ab.sh's (mode serve). See
# bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

SAMPLE=${SAMPLE:-60}                          # seconds between RSS samples
SCRAPE=${SCRAPE:-5}                           # seconds between scrapes of /metrics
RATE=${RATE:-0}                               # churn paced to this many conn/s; 0: max rate
LABELS=${LABELS:-comm service-port container} # serve's --label values
# shellcheck source=bench/lib.sh
. bench/lib.sh

if [[ ${1:-} != soak ]] || (($# > 1)); then
	echo "usage: bench/serve.sh soak   (knobs: see bench/README.md)" >&2
	exit 2
fi
soak_ok || exit 2
if ! [[ $SCRAPE =~ ^[0-9]+$ && $RATE =~ ^[0-9]+$ ]] || ((SCRAPE < 1)); then
	fail "SCRAPE=$SCRAPE RATE=$RATE: want whole numbers, SCRAPE at least 1"
	exit 2
fi
bench_init
need_socktrace

# serve_cmd NS: sets cmd to socktrace serve in NS with $LABELS.
serve_cmd() {
	cmd=(ip netns exec "$1" "$SOCKTRACE" serve)
	local l
	for l in $LABELS; do cmd+=(--label "$l"); done
}

scrape() { scrape_loop "$SCRAPE" "$tmp/scrapes"; }
soak_started=scrape
if ((RATE > 0)); then soak_churn_args=(-rate "$RATE"); fi
: >"$tmp/scrapes"
echo "socktrace serve soak: $CLIENTS clients, $ADDRS addresses, port $PORT;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
run_soak healthy serve_cmd
# The scrapes: how many were answered, their time (bash's /dev/tcp, the
# kernel's socket table read included) and the samples in the last one.
awk -v every="$SCRAPE" '{ n++; t += $1; if ($1 > max) max = $1; s = $2 } END {
	if (!n) { print "  no scrape answered"; exit 1 }
	printf "  %d scrapes every %d s: mean %.0f ms, slowest %d ms; the last held %d samples\n", n, every, t / n, max, s
}' "$tmp/scrapes"
