package procfs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
)

// TCPSocketInode returns the inode of the TCP socket whose local and remote addresses are local and remote, from
// /proc/net/tcp or /proc/net/tcp6 (the network namespace of the /proc root's reader), or 0 when there is none.
// Together with [FS.Holders] it names the process on the far end of a loopback connection that the kernel programs
// did not see (a server outside the traced tree).
func (p FS) TCPSocketInode(local, remote netip.AddrPort) uint64 {
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	return p.findTCP(local, func(l, r netip.AddrPort, _ []byte) bool { return l == local && r == remote })
}

// TCPListenerInode returns the inode of the TCP socket listening on addr (on that address or on the wildcard
// address), or 0. It names a server after the connection in question is gone: the listener outlives it.
func (p FS) TCPListenerInode(addr netip.AddrPort) uint64 {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	return p.findTCP(addr, func(l, _ netip.AddrPort, state []byte) bool {
		return string(state) == "0A" && l.Port() == addr.Port() && (l.Addr() == addr.Addr() || l.Addr().IsUnspecified())
	})
}

// findTCP returns the inode of the first socket of /proc/net/tcp{,6} that match accepts.
func (p FS) findTCP(local netip.AddrPort, match func(local, remote netip.AddrPort, state []byte) bool) uint64 {
	files := []string{"tcp6"}
	if local.Addr().Is4() {
		files = []string{"tcp", "tcp6"} // a dual-stack socket is IPv6 with IPv4-mapped addresses
	}
	for _, file := range files {
		if ino := p.scanTCP(file, match); ino != 0 {
			return ino
		}
	}
	return 0
}

func (p FS) scanTCP(file string, match func(local, remote netip.AddrPort, state []byte) bool) uint64 {
	f, err := os.Open(filepath.Join(p.Root, "net", file))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 10 {
			continue
		}
		l, lok := parseProcNetAddr(fields[1])
		r, rok := parseProcNetAddr(fields[2])
		if !lok || !rok || !match(l, r, fields[3]) {
			continue
		}
		ino, err := strconv.ParseUint(string(fields[9]), 10, 64)
		if err == nil && ino != 0 {
			return ino
		}
	}
	return 0
}

// parseProcNetAddr parses "0100007F:1F90" (IPv4) or 32 hex digits and a port (IPv6): the address is printed as
// 32-bit words in host byte order (little-endian on every architecture mcpscope builds for), the port as a number.
func parseProcNetAddr(b []byte) (netip.AddrPort, bool) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(string(b[i+1:]), 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(string(b[:i]))
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	for w := 0; w < len(raw); w += 4 { // each word back to network order
		binary.BigEndian.PutUint32(raw[w:], binary.LittleEndian.Uint32(raw[w:]))
	}
	var addr netip.Addr
	if len(raw) == 4 {
		addr = netip.AddrFrom4([4]byte(raw))
	} else {
		addr = netip.AddrFrom16([16]byte(raw)).Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}
