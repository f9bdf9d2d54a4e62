package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRootCmd builds the root command: netstat's options and tables, with the
// kernel-driven modes as subcommands.
func newRootCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "socktrace [netstat options]",
		Short:         "netstat with a memory: TCP connections as the kernel sees them",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("netstat mode: not built yet")
		},
	}
	cmd.AddCommand(newTraceCmd())
	return cmd
}
