//go:build linux && !tmc_portable

package server

import (
	"net"
	"strconv"
	"syscall"
)

// socketInfo returns c's descriptor and local address, for CLIENT LIST.
func (c *conn) socketInfo() (int, string) {
	sa, err := syscall.Getsockname(c.fd)
	if err != nil {
		return c.fd, ""
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return c.fd, net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *syscall.SockaddrInet6:
		return c.fd, net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	}
	return c.fd, ""
}

// kill closes c, which CLIENT KILL has marked killed, on its own loop:
// only that loop touches its connections. A conn closed meanwhile stays so.
func (l *loop) kill(c *conn) {
	l.post(func() {
		if c.fd >= 0 {
			l.close(c)
		}
	})
}
