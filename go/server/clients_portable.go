//go:build !linux || tmc_portable

package server

import "syscall"

// socketInfo returns c's descriptor and local address, for CLIENT LIST.
func (c *conn) socketInfo() (int, string) {
	fd := -1
	if sc, ok := c.nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			raw.Control(func(d uintptr) { fd = int(d) })
		}
	}
	return fd, c.nc.LocalAddr().String()
}

// kill closes c, which CLIENT KILL has marked killed: closing its socket
// ends its goroutine's read or write, and the goroutine closes c.
func (l *loop) kill(c *conn) { c.nc.Close() }
