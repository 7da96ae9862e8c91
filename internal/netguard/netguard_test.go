package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestNonPublic(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback", "10.0.0.1": "private", "192.168.1.1": "private",
		"169.254.1.1": "link-local", "0.0.0.0": "unspecified", "100.64.0.1": "reserved",
		"64:ff9b::a00:1": "private", "8.8.8.8": "", "2606:4700::1111": "",
	} {
		if got := NonPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("NonPublic(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestDialerRefusesLoopbackUnlessAllowed(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dialer(time.Second, nil).DialContext(ctx, "tcp", l.Addr().String()); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("dial loopback with the default check: %v, want %v", err, ErrBlockedAddress)
	}
	allow := func(ap netip.AddrPort) error { return Check(ap, true) }
	c, err := Dialer(time.Second, allow).DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial loopback when allowed: %v", err)
	}
	c.Close()
}
