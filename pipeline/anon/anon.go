// Package anon is the anonymisation step: it truncates IP addresses and
// computes the cookieless daily visitor hash from salts that rotate at
// 00:00 UTC and are destroyed after 48 hours. Nothing it returns lets anyone
// recover the address or the user agent once the salt is gone.
package anon

import (
	"net/netip"
)

// TruncateIP keeps the network part only: an IPv4 address to its /24, an
// IPv6 address to its /48. An IPv4-mapped IPv6 address is treated as IPv4.
// The zero Addr stays zero.
func TruncateIP(a netip.Addr) netip.Addr {
	if !a.IsValid() {
		return a
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		b[3] = 0
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	for i := 6; i < 16; i++ {
		b[i] = 0
	}
	return netip.AddrFrom16(b)
}
