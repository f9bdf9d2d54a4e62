package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// StatGroup is one protocol's counters from a statistics file, in the
// kernel's order: "Tcp" from /proc/net/snmp, "TcpExt" from
// /proc/net/netstat, "Icmp6" from /proc/net/snmp6.
type StatGroup struct {
	Name     string
	Counters []Counter
}

// Counter is one named statistic.
type Counter struct {
	Name string
	// Value is the number as netstat reads it (strtoull), so the kernel's
	// -1 for Tcp MaxConn is 2^64-1.
	Value uint64
	// Text is the number exactly as the kernel printed it.
	Text string
}

// ReadSNMP reads netDir/snmp (the "Ip:", "Tcp:"... line pairs). Malformed
// pairs are skipped and reported as *ParseError values joined into the
// error, next to the groups that did parse.
func ReadSNMP(netDir string) ([]StatGroup, error) { return readNetFile(netDir, "snmp", ParseSNMP) }

// ReadNetstat reads netDir/netstat ("TcpExt:", "IpExt:"...), which has the
// same layout as snmp.
func ReadNetstat(netDir string) ([]StatGroup, error) {
	return readNetFile(netDir, "netstat", ParseSNMP)
}

// ReadSCTPStats reads netDir/sctp/snmp, which exists while the sctp module
// is loaded, as the group "Sctp".
func ReadSCTPStats(netDir string) (StatGroup, error) {
	g, err := readNetFile(netDir, filepath.Join("sctp", "snmp"), func(data []byte, path string) (StatGroup, error) {
		return ParseNameValues(data, path, "Sctp")
	})
	g.Name = "Sctp"
	return g, err
}

// ReadSNMP6 reads netDir/snmp6.
func ReadSNMP6(netDir string) ([]StatGroup, error) { return readNetFile(netDir, "snmp6", ParseSNMP6) }

// readNetFile reads netDir/name and parses it with parse; see
// ReadRoutes for how errors are reported.
func readNetFile[T any](netDir, name string, parse func([]byte, string) (T, error)) (T, error) {
	path := filepath.Join(netDir, name)
	data, err := readProcFile(path)
	if err != nil {
		var zero T
		return zero, err
	}
	return parse(data, path)
}

// ParseSNMP parses a file of line pairs, a header naming the counters and
// a line of values, both led by the group name:
//
//	Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens ...
//	Tcp: 1 200 120000 -1 26 ...
func ParseSNMP(data []byte, file string) ([]StatGroup, error) {
	var groups []StatGroup
	var errs []error
	lineNo := 0
	for len(data) > 0 {
		var names, values []byte
		names, data = cutLine(data)
		lineNo++
		if len(bytes.TrimSpace(names)) == 0 {
			continue // 2.6 kernels start with an empty line
		}
		values, data = cutLine(data)
		lineNo++
		g, err := parseStatPair(names, values)
		if err != nil {
			errs = append(errs, &ParseError{File: file, Line: lineNo - 1, Err: err})
			continue
		}
		groups = append(groups, g)
	}
	return groups, errors.Join(errs...)
}

func parseStatPair(names, values []byte) (StatGroup, error) {
	var g StatGroup
	title, nameList, ok := bytes.Cut(names, []byte{':'})
	if !ok || len(title) == 0 {
		return g, errors.New("missing group name")
	}
	vtitle, valueList, ok := bytes.Cut(values, []byte{':'})
	if !ok || !bytes.Equal(vtitle, title) {
		return g, fmt.Errorf("%s: values line missing", title)
	}
	g.Name = string(title)
	nf, vf := fields{b: nameList}, fields{b: valueList}
	for {
		name, text := nf.next(), vf.next()
		if len(name) == 0 && len(text) == 0 {
			return g, nil
		}
		if len(name) == 0 || len(text) == 0 {
			return g, fmt.Errorf("%s: %d names but a different number of values", title, len(g.Counters)+1)
		}
		v, err := parseCounter(text)
		if err != nil {
			return g, fmt.Errorf("%s %s: %w", title, name, err)
		}
		g.Counters = append(g.Counters, Counter{Name: string(name), Value: v, Text: string(text)})
	}
}

// parseCounter reads a counter the way strtoull does for the values the
// kernel prints: unsigned decimals, and a few signed ones (-1) that wrap.
func parseCounter(b []byte) (uint64, error) {
	if len(b) > 0 && b[0] == '-' {
		v, err := parseDec(b[1:], 64)
		return -v, err
	}
	return parseDec(b, 64)
}

// ParseSNMP6 parses /proc/net/snmp6, one "Name value" per line. Its groups
// are split the way netstat splits them: a group is named by its first
// counter's name up to and including the first '6' ("Icmp6InMsgs" gives
// "Icmp6"), and lasts while the counter names contain that title.
func ParseSNMP6(data []byte, file string) ([]StatGroup, error) {
	counters, err := parseRows(data, file, 0, parseNameValue)
	var groups []StatGroup
	for _, c := range counters {
		if len(groups) == 0 || !strings.Contains(c.Name, groups[len(groups)-1].Name) {
			title := c.Name
			if i := strings.IndexByte(c.Name, '6'); i >= 0 {
				title = c.Name[:i+1]
			}
			groups = append(groups, StatGroup{Name: title})
		}
		g := &groups[len(groups)-1]
		g.Counters = append(g.Counters, c)
	}
	return groups, err
}

// ParseNameValues parses a file of "Name value" lines as one group, like
// /proc/net/sctp/snmp.
func ParseNameValues(data []byte, file, group string) (StatGroup, error) {
	counters, err := parseRows(data, file, 0, parseNameValue)
	return StatGroup{Name: group, Counters: counters}, err
}

func parseNameValue(line []byte) (Counter, error) {
	f := fields{b: line}
	name, text := f.next(), f.next()
	v, err := parseCounter(text)
	if err != nil {
		return Counter{}, fmt.Errorf("%s: %w", name, err)
	}
	return Counter{Name: string(name), Value: v, Text: string(text)}, nil
}
