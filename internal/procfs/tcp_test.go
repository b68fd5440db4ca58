package procfs

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
)

func TestParseProcNetAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000000000000000000001000000:97A3": "[::1]:38819",
		"0000000000000000FFFF00000100007F:0050": "127.0.0.1:80",
	} {
		got, ok := parseProcNetAddr([]byte(in))
		if !ok || got != netip.MustParseAddrPort(want) {
			t.Errorf("parseProcNetAddr(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007F:zz", "01007F:1F90", "xx00007F:1F90"} {
		if _, ok := parseProcNetAddr([]byte(bad)); ok {
			t.Errorf("parseProcNetAddr(%q) accepted", bad)
		}
	}
}

// TestTCPSocketInodeFindsPeer opens a real loopback connection and finds, from the client's addresses, the server's
// socket and this process as its holder.
func TestTCPSocketInodeFindsPeer(t *testing.T) {
	// "dual": a listener on :: accepting an IPv4 client, whose accepted socket is IPv6 with a mapped address.
	for _, network := range []string{"tcp4", "tcp6", "dual"} {
		host := map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0", "dual": "[::]:0"}[network]
		listenNet := map[string]string{"tcp4": "tcp4", "tcp6": "tcp6", "dual": "tcp"}[network]
		ln, err := net.Listen(listenNet, host)
		if err != nil {
			t.Skipf("%s loopback: %v", network, err)
		}
		defer ln.Close()
		dialNet, dialAddr := network, ln.Addr().String()
		if network == "dual" {
			dialNet = "tcp4"
			dialAddr = fmt.Sprintf("127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
		}
		client, err := net.Dial(dialNet, dialAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer server.Close()
		local := client.LocalAddr().(*net.TCPAddr).AddrPort()
		remote := client.RemoteAddr().(*net.TCPAddr).AddrPort()
		fs := Default()
		// The server's socket: local and remote swapped.
		ino := fs.TCPSocketInode(remote, local)
		if ino == 0 {
			t.Fatalf("%s: no socket %v → %v in /proc/net", network, remote, local)
		}
		if holders := fs.Holders("socket", ino); !slices.Contains(holders, os.Getpid()) {
			t.Errorf("%s: holders of socket %d are %v, want this process %d", network, ino, holders, os.Getpid())
		}
		if l := fs.TCPListenerInode(remote); l == 0 || l == ino || !slices.Contains(fs.Holders("socket", l), os.Getpid()) {
			t.Errorf("%s: listener of %v: socket %d", network, remote, l)
		}
		if other := fs.TCPSocketInode(local, remote); other == 0 || other == ino {
			t.Errorf("%s: the client's socket is %d, the server's %d", network, other, ino)
		}
	}
}
