package render

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/socktrace/socktrace/snapshot"
	"golang.org/x/sys/unix"
)

// InterfaceOptions are the netstat options the interface table reads.
type InterfaceOptions struct {
	All    bool // -a: interfaces that are down too
	Extend int  // -e: ifconfig-style blocks instead of the table
	// Addrs6 are the IPv6 addresses for -e (from /proc/net/if_inet6).
	Addrs6 []snapshot.IfAddr6
	// Again is a table after the first under -c, which netstat prints
	// without the title.
	Again bool
}

const ifaceHead = "Iface             MTU    RX-OK RX-ERR RX-DRP RX-OVR    TX-OK TX-ERR TX-DRP TX-OVR Flg"

// shown reports whether netstat lists an interface: up, or -a.
func (o InterfaceOptions) shown(i snapshot.Interface) bool {
	return o.All || i.Link.Flags&unix.IFF_UP != 0
}

// Interfaces prints netstat -i's table, or with -e its ifconfig-style
// blocks.
func Interfaces(w io.Writer, ifaces []snapshot.Interface, o InterfaceOptions) error {
	bw := bufio.NewWriter(w)
	if !o.Again {
		fmt.Fprintln(bw, "Kernel Interface table")
	}
	if o.Extend == 0 {
		fmt.Fprintln(bw, ifaceHead)
	}
	for _, i := range ifaces {
		if !o.shown(i) {
			continue
		}
		if o.Extend == 0 {
			interfaceRow(bw, i)
		} else {
			interfaceBlock(bw, i, o.Addrs6)
		}
	}
	return flushTable(bw)
}

func interfaceRow(w io.Writer, i snapshot.Interface) {
	fmt.Fprintf(w, "%-15.15s %5d ", Safe(i.Name), i.Link.MTU)
	if s := i.Stats; s != nil {
		// RX-ERR is the errs column alone in net-tools 2.10 (newer releases
		// add frame errors).
		fmt.Fprintf(w, "%8d %6d %6d %-6d ", s.RxPackets, s.RxErrors, s.RxDropped, s.RxFIFO)
		fmt.Fprintf(w, "%8d %6d %6d %6d ", s.TxPackets, s.TxErrors, s.TxDropped, s.TxFIFO)
	} else {
		fmt.Fprintf(w, "%-56s", "     - no statistics available -")
	}
	fmt.Fprintln(w, ShortIfaceFlags(i.Link.Flags))
}

// ShortIfaceFlags is netstat -i's Flg column.
func ShortIfaceFlags(f uint16) string {
	if f == 0 {
		return "[NO FLAGS]"
	}
	var b []byte
	for _, l := range []struct {
		bit    uint16
		letter byte
	}{
		{unix.IFF_ALLMULTI, 'A'}, {unix.IFF_BROADCAST, 'B'}, {unix.IFF_DEBUG, 'D'},
		{unix.IFF_LOOPBACK, 'L'}, {unix.IFF_MULTICAST, 'M'}, {unix.IFF_DYNAMIC, 'd'},
		{unix.IFF_PROMISC, 'P'}, {unix.IFF_NOTRAILERS, 'N'}, {unix.IFF_NOARP, 'O'},
		{unix.IFF_POINTOPOINT, 'P'}, {unix.IFF_SLAVE, 's'}, {unix.IFF_MASTER, 'm'},
		{unix.IFF_RUNNING, 'R'}, {unix.IFF_UP, 'U'},
	} {
		if f&l.bit != 0 {
			b = append(b, l.letter)
		}
	}
	return string(b)
}

// LongIfaceFlags is ifconfig's "flags=4163<UP,BROADCAST,...>". The number
// is ifr_flags, a signed short.
func LongIfaceFlags(f uint16) string {
	var names []string
	for _, l := range []struct {
		bit  uint16
		name string
	}{
		{unix.IFF_UP, "UP"}, {unix.IFF_BROADCAST, "BROADCAST"}, {unix.IFF_DEBUG, "DEBUG"},
		{unix.IFF_LOOPBACK, "LOOPBACK"}, {unix.IFF_POINTOPOINT, "POINTOPOINT"},
		{unix.IFF_NOTRAILERS, "NOTRAILERS"}, {unix.IFF_RUNNING, "RUNNING"}, {unix.IFF_NOARP, "NOARP"},
		{unix.IFF_PROMISC, "PROMISC"}, {unix.IFF_ALLMULTI, "ALLMULTI"}, {unix.IFF_SLAVE, "SLAVE"},
		{unix.IFF_MASTER, "MASTER"}, {unix.IFF_MULTICAST, "MULTICAST"}, {unix.IFF_DYNAMIC, "DYNAMIC"},
	} {
		if f&l.bit != 0 {
			names = append(names, l.name)
		}
	}
	// net-tools closes the list by overwriting the last character, so no
	// flags at all leaves a lone "<".
	s := fmt.Sprintf("flags=%d<", int16(f))
	if len(names) == 0 {
		return s
	}
	return s + strings.Join(names, ",") + ">"
}

// hwType is net-tools' description of a link type: its name, title, and
// how it prints the address (nil: not at all).
type hwType struct {
	name, title string
	addr        func([16]byte) string
}

func hwTypeOf(t int) hwType {
	switch t {
	case unix.ARPHRD_ETHER:
		return hwType{"ether", "Ethernet", func(a [16]byte) string {
			return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5])
		}}
	case unix.ARPHRD_LOOPBACK:
		return hwType{"loop", "Local Loopback", nil}
	case unix.ARPHRD_SIT:
		return hwType{"sit", "IPv6-in-IPv4", nil}
	case unix.ARPHRD_PPP:
		return hwType{"ppp", "Point-to-Point Protocol", nil}
	}
	// Types net-tools does not know print as UNSPEC with every byte.
	return hwType{"unspec", "UNSPEC", func(a [16]byte) string {
		parts := make([]string, len(a))
		for i, c := range a {
			parts[i] = fmt.Sprintf("%02X", c)
		}
		return strings.Join(parts, "-")
	}}
}

func interfaceBlock(w io.Writer, i snapshot.Interface, addrs6 []snapshot.IfAddr6) {
	l := i.Link
	name := Safe(i.Name)
	fmt.Fprintf(w, "%s: %s  mtu %d\n", name, LongIfaceFlags(l.Flags), l.MTU)
	if l.HasIPv4 {
		fmt.Fprintf(w, "        inet %s  netmask %s", l.Addr, l.Netmask)
		if l.Flags&unix.IFF_BROADCAST != 0 {
			fmt.Fprintf(w, "  broadcast %s", l.Broadcast)
		}
		if l.Flags&unix.IFF_POINTOPOINT != 0 {
			fmt.Fprintf(w, "  destination %s", l.PtPDst)
		}
		fmt.Fprintln(w)
	}
	for _, a := range addrs6 {
		if a.Iface == i.Name {
			fmt.Fprintf(w, "        inet6 %s  prefixlen %d  scopeid 0x%x%s\n", a.Addr, a.PrefixLen, a.Scope, scopeNames(a.Scope))
		}
	}
	hw := hwTypeOf(l.HWType)
	if hw.addr != nil {
		fmt.Fprintf(w, "        %s %s", hw.name, hw.addr(l.HWAddr))
	} else {
		fmt.Fprintf(w, "        %s", hw.name)
	}
	if l.TxQueueLen != -1 {
		fmt.Fprintf(w, "  txqueuelen %d", l.TxQueueLen)
	}
	fmt.Fprintf(w, "  (%s)\n", hw.title)
	if s := i.Stats; s != nil {
		fmt.Fprintf(w, "        RX packets %d  bytes %d (%s)\n", s.RxPackets, s.RxBytes, byteUnits(s.RxBytes))
		fmt.Fprintf(w, "        RX errors %d  dropped %d  overruns %d  frame %d\n", s.RxErrors, s.RxDropped, s.RxFIFO, s.RxFrame)
		fmt.Fprintf(w, "        TX packets %d  bytes %d (%s)\n", s.TxPackets, s.TxBytes, byteUnits(s.TxBytes))
		fmt.Fprintf(w, "        TX errors %d  dropped %d overruns %d  carrier %d  collisions %d\n",
			s.TxErrors, s.TxDropped, s.TxFIFO, s.TxCarrier, s.Collisions)
	}
	if l.IRQ != 0 || l.MemStart != 0 || l.DMA != 0 || l.BaseAddr >= 0x100 {
		fmt.Fprint(w, "        device ")
		if l.IRQ != 0 {
			fmt.Fprintf(w, "interrupt %d  ", l.IRQ)
		}
		if l.BaseAddr >= 0x100 {
			fmt.Fprintf(w, "base 0x%x  ", l.BaseAddr)
		}
		if l.MemStart != 0 {
			fmt.Fprintf(w, "memory 0x%x-%x  ", l.MemStart, l.MemEnd)
		}
		if l.DMA != 0 {
			fmt.Fprintf(w, "  dma 0x%x", l.DMA)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// scopeNames is the "<link>" after an IPv6 scope id. The scope is the
// kernel's IPV6_ADDR_* bits; zero is global.
func scopeNames(scope int) string {
	const compatV4, loopback, linkLocal, siteLocal = 0x80, 0x10, 0x20, 0x40
	var names []string
	if scope&compatV4 != 0 {
		names = append(names, "compat")
		scope -= compatV4
	}
	if scope == 0 {
		names = append(names, "global")
	}
	if scope&linkLocal != 0 {
		names = append(names, "link")
	}
	if scope&siteLocal != 0 {
		names = append(names, "site")
	}
	if scope&loopback != 0 {
		names = append(names, "host")
	}
	if len(names) == 0 {
		return "" // net-tools overwrites the lone "<" with the terminator
	}
	return "<" + strings.Join(names, ",") + ">"
}

// byteUnits is ifconfig's "45.3 MiB": one decimal, truncated, with the
// unit changing only above each power of 1024.
func byteUnits(v uint64) string {
	units := []struct {
		limit uint64
		name  string
	}{
		{1 << 50, "PiB"}, {1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"},
	}
	if v > 1<<60 {
		// v*10 would overflow: net-tools divides by a tenth of an EiB.
		s := v / 115292150460684697
		return fmt.Sprintf("%d.%d EiB", s/10, s%10)
	}
	s, unit := v*10, "B"
	for _, u := range units {
		if v > u.limit {
			s, unit = s/u.limit, u.name
			break
		}
	}
	return fmt.Sprintf("%d.%d %s", s/10, s%10, unit)
}

// InterfaceJSON is one interface as printed by --json. Counters are absent
// for an IPv4 label, which has none of its own.
type InterfaceJSON struct {
	Iface   JSONText `json:"iface"`
	MTU     int      `json:"mtu"`
	Flags   string   `json:"flags"`
	Up      bool     `json:"up"`
	RxOK    *uint64  `json:"rx_ok,omitempty"`
	RxErr   *uint64  `json:"rx_err,omitempty"`
	RxDrp   *uint64  `json:"rx_drp,omitempty"`
	RxOvr   *uint64  `json:"rx_ovr,omitempty"`
	TxOK    *uint64  `json:"tx_ok,omitempty"`
	TxErr   *uint64  `json:"tx_err,omitempty"`
	TxDrp   *uint64  `json:"tx_drp,omitempty"`
	TxOvr   *uint64  `json:"tx_ovr,omitempty"`
	RxBytes *uint64  `json:"rx_bytes,omitempty"`
	TxBytes *uint64  `json:"tx_bytes,omitempty"`
}

// InterfacesJSON prints one object per interface netstat -i would list.
func InterfacesJSON(w io.Writer, ifaces []snapshot.Interface, o InterfaceOptions) error {
	enc := newJSONEncoder(w)
	for _, i := range ifaces {
		if !o.shown(i) {
			continue
		}
		j := InterfaceJSON{
			Iface: JSONText(i.Name), MTU: i.Link.MTU, Flags: ShortIfaceFlags(i.Link.Flags),
			Up: i.Link.Flags&unix.IFF_UP != 0,
		}
		if s := i.Stats; s != nil {
			j.RxOK, j.RxErr, j.RxDrp, j.RxOvr = &s.RxPackets, &s.RxErrors, &s.RxDropped, &s.RxFIFO
			j.TxOK, j.TxErr, j.TxDrp, j.TxOvr = &s.TxPackets, &s.TxErrors, &s.TxDropped, &s.TxFIFO
			j.RxBytes, j.TxBytes = &s.RxBytes, &s.TxBytes
		}
		if err := enc.Encode(j); err != nil {
			return fmt.Errorf("write interface: %w", err)
		}
	}
	return nil
}
