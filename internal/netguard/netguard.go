// Package netguard keeps outbound HTTP away from addresses that are not
// on the public internet (loopback, private, link-local, reserved), the
// guard against server-side request forgery that web_fetch and webhook
// delivery share. The check runs in the dialer after name resolution, for
// every connection (redirects included), so a name that resolves to a
// private address is refused too.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrBlockedAddress is wrapped by the dial error when a host resolves to
// an address that may not be reached.
var ErrBlockedAddress = errors.New("address not allowed")

var reservedPrefixes = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
		"::/96",           // IPv4-compatible (deprecated)
		"100::/64",        // discard
		"2001:db8::/32",   // documentation
		"fec0::/10",       // site-local (deprecated)
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// NonPublic names the kind of a non-public address ("loopback",
// "private", ...), or returns "" for a public one.
func NonPublic(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsMulticast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast():
		return "multicast"
	}
	if nat64.Contains(a) {
		b := a.As16()
		return NonPublic(netip.AddrFrom4([4]byte(b[12:16])))
	}
	for _, p := range reservedPrefixes {
		if p.Contains(a) {
			return "reserved"
		}
	}
	return ""
}

// Check refuses a non-public address unless allowPrivate.
func Check(ap netip.AddrPort, allowPrivate bool) error {
	if allowPrivate {
		return nil
	}
	if why := NonPublic(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s is a %s address", ErrBlockedAddress, ap.Addr(), why)
	}
	return nil
}

// Dialer returns a dialer whose every connection goes through check (nil
// means [Check] refusing non-public addresses).
func Dialer(timeout time.Duration, check func(netip.AddrPort) error) *net.Dialer {
	if check == nil {
		check = func(ap netip.AddrPort) error { return Check(ap, false) }
	}
	return &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot parse %q: %v", ErrBlockedAddress, address, err)
			}
			return check(ap)
		},
	}
}
