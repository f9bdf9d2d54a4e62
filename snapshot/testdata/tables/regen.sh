#!/bin/sh
# Regenerates netstat/*.txt: the output of the real net-tools netstat
# (Debian 12's 2.10) over the fixture tree in proc/, with hosts, networks,
# services and passwd from this directory. Needs root: netstat reads fixed paths, so it runs in a
# private mount namespace with a tmpfs over /proc, inside a fresh network
# namespace so reverse DNS fails fast. The render tests compare against it.
set -eu
cd "$(dirname "$0")"
here=$(pwd)
ns=socktrace-regen-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
mkdir -p netstat
run() {
	out=$1
	shift
	ip netns exec "$ns" unshare -m sh -c '
		mount --bind "$0/hosts" /etc/hosts
		mount --bind "$0/networks" /etc/networks
		mount --bind "$0/services" /etc/services
		mount --bind "$0/passwd" /etc/passwd
		mount -t tmpfs none /proc
		mkdir /proc/net
		cp -r "$0"/proc/net/* /proc/net/
		exec netstat "$@"' "$here" "$@" >"netstat/$out.txt"
}
run rn -rn
run rne -rne
run rnee -rnee
run r -r
run 6rn -6 -rn
run 6r -6 -r
run s -s
run st -st
run su -su
run sw -sw
run sU -sU
run s6 -s -6
run s6t -s -6 -t
run g -g
run gn -gn
run g4n -g -4 -n
run g6 -g -6
run rC -rC
run rnC -rnC
run rCe -rCe
run rCee -rCee
run rnCee -rnCee
run rFC -rFC
run rN -rN
run 6rC -6 -rC
run 6rnC -6 -rnC
run 6rFC -6 -rFC
run 6rN -6 -rN
run Sn -Sn
run San -San
run Sln -Sln
run Sa -Sa
run Sane -Sane
run Sano -Sano
run SanW -SanW
run S4an -S -4 -an
run S6an -S -6 -an
run SaN -SaN
run Sa-np -Sa --numeric-ports
run Sanp -Sanp
