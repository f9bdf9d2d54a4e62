package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newTraceCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "trace",
		Short: "stream every TCP state transition as it happens",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("trace: not built yet")
		},
	}
}
