package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/socktrace/socktrace/internal/check"
	"github.com/spf13/cobra"
)

// failHookEnv names hooks (comma-separated) that check reports as failed
// without attaching them: a kernel that lacks them, for tests.
const failHookEnv = "SOCKTRACE_CHECK_FAIL_HOOK"

// exitCode is an error that ends socktrace with that status and no
// message: the command printed its own.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

type checkOptions struct{ json bool }

func newCheckCmd() *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Say whether this host can run socktrace, and what it would miss",
		Long: `Check the kernel, privileges and every kernel hook socktrace uses: each
hook is attached for real and detached at once, and nothing is left
behind (a tracefs check had to mount is unmounted again).

Exit status: 0 when every mode works, 1 when socktrace cannot trace at
all, 2 when it runs degraded (the lines marked FAIL say what is missing).

` + failHookEnv + `=NAME[,NAME] reports those hooks as failed without
attaching them: for tests of the degraded verdict.`,
		Args:         noArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := check.Run(check.Config{Fail: failHooks(os.Getenv(failHookEnv))})
			if err != nil {
				return fmt.Errorf("%s: %w", failHookEnv, err)
			}
			if o.json {
				err = r.WriteJSON(cmd.OutOrStdout())
			} else {
				err = r.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if r.Exit != check.ExitOK {
				return exitCode(r.Exit)
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(flagError)
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as one JSON object")
	return cmd
}

func failHooks(env string) map[string]bool {
	fail := map[string]bool{}
	for name := range strings.SplitSeq(env, ",") {
		if name = strings.TrimSpace(name); name != "" {
			fail[name] = true
		}
	}
	return fail
}
