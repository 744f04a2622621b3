package netpolicy

import "net/netip"

// Refused reports whether ip may not be called under the Private scope (a
// tenant-named host) unless the Policy allows private destinations. Refused are: loopback (127/8, ::1), unspecified
// (0.0.0.0, ::), "this network" 0/8, private (10/8, 172.16/12, 192.168/16),
// carrier-grade NAT 100.64/10, link-local (169.254/16, which holds the
// 169.254.169.254 cloud metadata address, and fe80::/10), IETF protocol
// assignments 192.0.0/24, benchmarking 198.18/15, documentation ranges,
// multicast, the reserved 240/4 block with broadcast 255.255.255.255, unique
// local fc00::/7, deprecated site-local fec0::/10, discard-only 100::/64,
// IPv4-mapped (::ffff:a.b.c.d) forms of refused IPv4 addresses, the whole
// deprecated IPv4-compatible block ::/96, NAT64 (64:ff9b::/96) forms of
// refused IPv4 addresses, the local-use NAT64 block 64:ff9b:1::/48, and 6to4
// (2002::/16) or Teredo (2001::/32) addresses embedding a refused IPv4
// address. The zero Addr is refused.
func Refused(ip netip.Addr) bool {
	return refusedReason(ip) != ""
}

// LocalReason names why ip is refused under the Local scope (direct-to-MX
// delivery), or returns "": the gateway host's own addresses and its link:
// loopback, unspecified, "this network" 0/8, link-local (with the
// 169.254.169.254 metadata address) and the cloud metadata addresses outside
// it (fd00:ec2::254, 100.100.100.200), in every IPv6 spelling that embeds
// such an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo).
func LocalReason(ip netip.Addr) string {
	r, local := classify(ip)
	if !local {
		return ""
	}
	return r
}

// refusedReason names the range that refuses ip, or returns "" when ip may be
// called. The name goes into error messages.
func refusedReason(ip netip.Addr) string {
	r, _ := classify(ip)
	return r
}

// classify names the refused range ip is in ("" for none) and whether that
// range is local: the host itself, its link, or a metadata service.
func classify(ip netip.Addr) (reason string, local bool) {
	if !ip.IsValid() {
		return "invalid address", true
	}
	ip = ip.WithZone("")
	if ip.Is4() {
		return classifyV4(ip.As4())
	}
	if ip.Is4In6() {
		if r, l := classifyV4(ip.Unmap().As4()); r != "" {
			return "IPv4-mapped " + r, l
		}
		return "", false
	}
	b := ip.As16()
	switch {
	case ip.IsUnspecified():
		return "unspecified", true
	case ip.IsLoopback():
		return "loopback", true
	case ip.IsLinkLocalUnicast():
		return "link-local", true
	case ip == metadataV6:
		return "a cloud metadata address", true
	case ip.IsMulticast():
		return "multicast", false
	case b[0] == 0xfe && b[1]&0xc0 == 0xc0:
		return "site-local", false
	case ip.IsPrivate():
		return "unique local", false
	case isZero(b[:12]):
		// ::a.b.c.d, IPv4-compatible, deprecated by RFC 4291.
		_, l := classifyV4([4]byte(b[12:16]))
		return "IPv4-compatible", l
	case b[0] == 0x01 && isZero(b[1:8]):
		return "discard-only", false
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0x00 && b[5] == 0x01:
		return "local-use NAT64", false
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && isZero(b[4:12]):
		if r, l := classifyV4([4]byte(b[12:16])); r != "" {
			return "NAT64 " + r, l
		}
	case b[0] == 0x20 && b[1] == 0x02:
		if r, l := classifyV4([4]byte(b[2:6])); r != "" {
			return "6to4 " + r, l
		}
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00:
		// Teredo: server address in clear, client address inverted.
		if r, l := classifyV4([4]byte(b[4:8])); r != "" {
			return "Teredo " + r, l
		}
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		if r, l := classifyV4(client); r != "" {
			return "Teredo " + r, l
		}
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8:
		return "documentation", false
	}
	return "", false
}

// Cloud metadata services outside the link-local range: AWS over IPv6
// (fd00:ec2::254) and Alibaba Cloud (100.100.100.200, inside CGNAT).
var (
	metadataV6 = netip.MustParseAddr("fd00:ec2::254")
	metadataV4 = [4]byte{100, 100, 100, 200}
)

// classifyV4 names the IPv4 range that refuses a ("" for none) and whether it
// is local (see classify).
func classifyV4(a [4]byte) (string, bool) {
	switch {
	case a == [4]byte{0, 0, 0, 0}:
		return "unspecified", true
	case a[0] == 0:
		return "this-network", true
	case a[0] == 127:
		return "loopback", true
	case a[0] == 169 && a[1] == 254:
		return "link-local", true
	case a == metadataV4:
		return "a cloud metadata address", true
	}
	return refusedV4(a), false
}

// refusedV4 names the non-local IPv4 range that refuses a, or returns "".
func refusedV4(a [4]byte) string {
	switch {
	case a[0] == 10:
		return "private"
	case a[0] == 100 && a[1]&0xc0 == 64:
		return "carrier-grade NAT"
	case a[0] == 172 && a[1]&0xf0 == 16:
		return "private"
	case a[0] == 192 && a[1] == 0 && a[2] == 0:
		return "IETF protocol assignment"
	case a[0] == 192 && a[1] == 0 && a[2] == 2,
		a[0] == 198 && a[1] == 51 && a[2] == 100,
		a[0] == 203 && a[1] == 0 && a[2] == 113:
		return "documentation"
	case a[0] == 192 && a[1] == 168:
		return "private"
	case a[0] == 198 && a[1]&0xfe == 18:
		return "benchmarking"
	case a[0] >= 224 && a[0] < 240:
		return "multicast"
	case a == [4]byte{255, 255, 255, 255}:
		return "broadcast"
	case a[0] >= 240:
		return "reserved"
	}
	return ""
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
