package snapshot

import "os"

// ServicePorts maps service names and their aliases to ports, per
// protocol, from /etc/services: the other way round from Services, for
// reading "sport = :https". A name listed twice keeps its first line, as
// with getservbyname.
type ServicePorts struct {
	TCP, UDP map[string]uint16
}

// ReadServicePorts reads a services file. A missing file gives no names.
func ReadServicePorts(path string) ServicePorts {
	data, _ := os.ReadFile(path)
	return ParseServicePorts(data)
}

// ParseServicePorts parses "name port/proto aliases # comment" lines.
func ParseServicePorts(data []byte) ServicePorts {
	s := ServicePorts{TCP: map[string]uint16{}, UDP: map[string]uint16{}}
	eachConfigLine(data, func(f *fields) {
		name, port, proto, ok := serviceLine(f)
		if !ok {
			return
		}
		var m map[string]uint16
		switch string(proto) {
		case "tcp":
			m = s.TCP
		case "udp":
			m = s.UDP
		default:
			return
		}
		for ; len(name) > 0; name = f.next() {
			if _, dup := m[string(name)]; !dup {
				m[string(name)] = port
			}
		}
	})
	return s
}
