package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/socktrace/socktrace/internal/top"
)

type topOptions struct {
	traceOptions // the filters and tracer flags, --json and --cpuprofile
	interval     time.Duration
	by           string
	sort         string
	rows         int
	maxKeys      int
}

// maxMaxKeys bounds --max-keys: a row takes up to a few KiB.
const maxMaxKeys = 1_000_000

func newTopCmd() *cobra.Command {
	o := &topOptions{}
	cmd := &cobra.Command{
		Use:   "top [state STATE | exclude STATE]... [EXPRESSION]",
		Short: "Who opens TCP connections, to where, and how they end, every interval",
		Long:  topHelp(),
		Example: `  socktrace top                          # by process and peer, busiest first
  socktrace top --by comm --sort failed  # programs with the most failed connects
  socktrace top --by local-port --sort accepts  # services
  socktrace top --sort time_wait -n 10   # who piles up TIME_WAIT
  socktrace top --json --interval 10s    # NDJSON, counts per 10 s
  socktrace top dst 10.0.0.0/8           # only connections to 10/8`,
		Args:         cobra.ArbitraryArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, stop, err := prepare(cmd, &o.traceOptions, args, o.config)
			if err != nil {
				return err
			}
			defer stop()
			o.warnFilters(cmd.ErrOrStderr(), cfg.Tracer.Filter)
			batchScheduling()
			err = top.Run(cmd.Context(), cfg, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
			if readerGone(err) {
				return nil
			}
			return err
		},
	}
	cmd.SetFlagErrorFunc(flagError)
	f := cmd.Flags()
	addProfileFlag(f, &o.profile)
	f.BoolVar(&o.json, "json", false, "print one JSON object per row and interval, then a summary object (NDJSON)")
	f.DurationVar(&o.interval, "interval", time.Second, "how long each table counts")
	f.StringVar(&o.by, "by", top.DefaultBy.String(), "what a row groups, comma-separated: "+strings.Join(top.ByNames(), ", "))
	f.StringVar(&o.sort, "sort", top.SortConnects.String(), "the column rows are sorted by, largest first (names above)")
	f.VarP(numberFlag(&o.rows, 0, maxMaxKeys, fmt.Sprintf("want a number of rows from 0 (all) to %d", maxMaxKeys)),
		"rows", "n", fmt.Sprintf("show the first N rows (0: all with --json, what fits on a terminal, else %d)", top.DefaultTextRows))
	o.maxKeys = top.DefaultMaxKeys
	f.Var(numberFlag(&o.maxKeys, 1, maxMaxKeys, fmt.Sprintf("want a number of rows from 1 to %d", maxMaxKeys)),
		"max-keys", "at most this many rows; events past them are counted in the row \"other\"")
	addTracerFlags(f, &o.traceOptions)
	return cmd
}

func (o *topOptions) config() (top.Config, error) {
	tc, err := o.traceOptions.config()
	if err != nil {
		return top.Config{}, err
	}
	if o.interval <= 0 {
		return top.Config{}, fmt.Errorf("--interval %v: want a positive duration such as 1s", o.interval)
	}
	by, err := top.ParseBy(o.by)
	if err != nil {
		return top.Config{}, err
	}
	col, err := top.ParseColumn(o.sort)
	if err != nil {
		return top.Config{}, err
	}
	return top.Config{Tracer: tc, Options: top.Options{By: by, MaxKeys: o.maxKeys},
		Interval: o.interval, Sort: col, Rows: o.rows, JSON: o.json}, nil
}
