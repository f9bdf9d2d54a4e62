package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/socktrace/socktrace/internal/render"
)

// WriteText writes the report as socktrace check prints it: one line per
// fact, one per hook, the verdict last. Values that come from the kernel
// or the system (the release, errors) are escaped: they reach a terminal,
// and could hold control characters.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-12s %s\n", k, render.Safe(v)) }
	line("kernel", r.Kernel)
	line("BTF", map[bool]string{true: "/sys/kernel/btf/vmlinux present", false: "missing: socktrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y"}[r.BTF])
	line("lockdown", r.Lockdown)
	line("privileges", r.Privileges.String())
	line("tracefs", r.Tracefs)
	if len(r.Hooks) > 0 {
		b.WriteString("hooks\n")
	}
	for _, h := range r.Hooks {
		if h.OK {
			fmt.Fprintf(&b, "  ok    %-38s without it: %s\n", h.Name, h.Without)
			continue
		}
		fmt.Fprintf(&b, "  FAIL  %-38s %s\n        %-38s %s\n", h.Name, render.Safe(h.Error), "", "without it: "+h.Without)
	}
	for _, n := range r.Notes {
		line("note", n)
	}
	line("verdict", r.Verdict)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one JSON object on one line. HTML
// escaping is off: the text is read by people and jq, not by browsers.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
