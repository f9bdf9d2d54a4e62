package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/socktrace/socktrace/internal/netstat"
)

// newRootCmd builds the root command: netstat's options and tables, with the
// kernel-driven modes as subcommands.
func newRootCmd() *cobra.Command {
	var o netstatOptions
	var profile string
	cmd := &cobra.Command{
		Use:   "socktrace [netstat options] [state STATE | exclude STATE]... [EXPRESSION]",
		Short: "netstat with a memory: TCP connections as the kernel sees them",
		Long: `socktrace speaks netstat: the same options print the same tables, read from
/proc. Sockets owned by other users show "-" under -p unless run as root.

Without options it prints what netstat prints: connected Internet sockets
and unix sockets. The command line is read as netstat reads it: a long
option may be cut to any prefix that names one option (--prog is
--programs), and what netstat refuses is refused in its words, with its
exit status (3 for a command line it cannot read).

With -c it differs from netstat, which polls: the TCP table is driven by the
kernel (eBPF; needs root), so each table also lists every connection that
existed since the previous one and is gone now, marked "(gone, lived 3.21ms)"
with its last state, its owner and why it failed, if it did. A summary line
follows each table: connects, accepts, closes, failed connects by reason,
sockets in SYN_SENT, SYN_RECV and TIME_WAIT, and events the kernel lost
(a row whose close was lost is healed against the kernel's socket table,
marked "close not seen"). At exit, stderr says how many events the kernel
delivered and lost. Without root, -c falls back to netstat's polling and
says so.

-M differs from netstat too: netstat reads /proc/net/ip_masquerade, gone
since Linux 2.4, and only says "no support for 'ip_masquerade' on this
system". socktrace lists the NATed flows of the kernel's connection tracking
instead (netlink; needs root) in netstat's masquerading columns; -e adds the
kernel's state, mark and both tuples, and -c the flows destroyed since the
previous table.


` + filterHelp + `
  Without a state word -a and -l choose the sockets as in netstat; with
  one, the state words do. pid and comm are the owner's (as -p shows it).
  autobound, as in ss, asks both whether the kernel chose the local port
  and whether it is in the ephemeral range (ip_local_port_range).`,
		Example: `  socktrace -tulpn        listening TCP/UDP sockets, numeric, with owners
  socktrace -tan          every TCP socket, numeric
  socktrace -tanp --json  the same as NDJSON, one object per socket
  socktrace -4 -ta        IPv4 TCP only
  socktrace -xa           unix sockets
  socktrace -te -W        with User and Inode, addresses never cut
  socktrace -tanpc        every TCP connection each second, born-and-gone ones too
  socktrace -tan state established '( dport = :443 or sport = :443 )'
                          established connections to or from port 443
  socktrace -tn exclude listening sport gt :1024
                          every non-listening socket on a port above 1024
  socktrace -tnc 2 --linger 10s
                          every 2 seconds; gone connections stay listed for 10s
  socktrace -rn           routing table; -i interfaces; -s statistics
  socktrace -Mnc          NATed connections each second, destroyed ones too
  socktrace -gn           multicast group memberships
  socktrace --prog -A inet,unix
                          any prefix of a long option, as netstat takes it
  socktrace trace         stream every TCP state change as it happens
  socktrace top           who opens connections, to where, how they end`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// netstat's command line is read as netstat reads it, prefixes of
		// long options and all (netstatArgs), and -c's interval may be
		// glued to other flags (-tnc2), which pflag cannot parse for a
		// flag whose value is optional: this command parses its own flags.
		DisableFlagParsing: true,
		// checkArgs rejects arguments, not cobra's "unknown command".
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			args, err := netstatArgs(args)
			if err != nil {
				return err
			}
			if err := fs.Parse(args); err != nil {
				return flagError(cmd, err)
			}
			if help, _ := fs.GetBool("help"); help {
				return cmd.Help()
			}
			if o.version {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "socktrace %s\n", version(debug.ReadBuildInfo()))
				return err
			}
			if o.context {
				return contextRefusal()
			}
			if err := o.checkArgs(fs); err != nil {
				return err
			}
			stop, err := cpuProfile(profile)
			if err != nil {
				return err
			}
			defer stop()
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.addFlags(cmd.Flags())
	addProfileFlag(cmd.Flags(), &profile)
	// Subcommands cobra adds (help, completion) report flag errors alike.
	cmd.SetFlagErrorFunc(flagError)
	cmd.AddCommand(newTraceCmd())
	cmd.AddCommand(newCheckCmd())
	cmd.AddCommand(newServeCmd())
	cmd.AddCommand(newTopCmd())
	return cmd
}

// contextRefusal answers -Z, which asks for the SELinux security context
// of each socket's process: netstat's words without SELinux, socktrace's
// with it, which does not show contexts.
func contextRefusal() error {
	// libselinux takes SELinux as enabled when selinuxfs is mounted.
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
		return netstat.Refusal{Msg: "socktrace: -Z: socktrace does not show SELinux security contexts; leave -Z out", Status: 1}
	}
	return netstat.Refusal{Msg: "SELinux is not enabled on this machine.", Status: 1}
}

// version is the main module's version as the go command stamped it: a
// tag or pseudo-version, or "(devel)" for a build without one (go build in
// a work tree without VCS information, go run, tests).
func version(info *debug.BuildInfo, ok bool) string {
	if !ok || info.Main.Version == "" {
		return "(devel)"
	}
	return info.Main.Version
}
