#!/usr/bin/env bash
# The profile for the profile-guided build (needs root): socktrace trace
# --json and socktrace -tanc, each beside $DURATION of max loopback churn,
# profiled with the hidden --cpuprofile and merged into
# cmd/socktrace/default.pgo, which go build uses from then on (-pgo=auto).
# Run it again when the hot paths change much; commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

DURATION=${DURATION:-20s}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_init

# profile NAME READY CMD...: CMD's CPU profile beside the churn in $ns, in
# $tmp/NAME.prof.
profile() {
	local name=$1 ready=$2
	shift 2
	start_tracer /dev/null "$tmp/$name.err" "$ready" "$@" --cpuprofile "$tmp/$name.prof"
	churn "$ns" "$PORT" -duration "$DURATION" >/dev/null
	stop_tracer "$tmp/$name.err"
	del_netns "$ns"
}

warmup
new_netns trace
profile trace attached "$SOCKTRACE" trace --json --port "$PORT"
new_netns table
profile table printing ip netns exec "$ns" "$SOCKTRACE" -tanc
"$GO" tool pprof -proto "$tmp/trace.prof" "$tmp/table.prof" >cmd/socktrace/default.pgo 2>/dev/null
echo "$bench: wrote cmd/socktrace/default.pgo ($(stat -c %s cmd/socktrace/default.pgo) bytes) from $DURATION of trace and of -c"
