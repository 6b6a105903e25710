//go:build !linux || tmc_portable

package client

import (
	"net"
	"time"
)

// sockConn is a connection on Go's network poller, where the blocking
// system calls of the Linux sockConn are not used (macOS, Windows, and
// Linux built with -tags tmc_portable).
type sockConn struct {
	nc      net.Conn
	timeout time.Duration // bound on each later read and write; 0 = none
}

func dialSock(network, address string, timeout time.Duration) (*sockConn, error) {
	nc, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, err
	}
	return &sockConn{nc: nc}, nil
}

// setTimeout bounds each later read and write by d (none if d <= 0).
func (c *sockConn) setTimeout(d time.Duration) error {
	c.timeout = max(d, 0)
	if c.timeout == 0 {
		return c.nc.SetDeadline(time.Time{})
	}
	return nil
}

// deadline renews the deadline before an operation, so that d bounds each
// read and write, as SO_RCVTIMEO and SO_SNDTIMEO do on Linux.
func (c *sockConn) deadline(set func(time.Time) error) error {
	if c.timeout == 0 {
		return nil
	}
	return set(time.Now().Add(c.timeout))
}

func (c *sockConn) Read(p []byte) (int, error) {
	if err := c.deadline(c.nc.SetReadDeadline); err != nil {
		return 0, err
	}
	return c.nc.Read(p)
}

func (c *sockConn) Write(p []byte) (int, error) {
	if err := c.deadline(c.nc.SetWriteDeadline); err != nil {
		return 0, err
	}
	return c.nc.Write(p)
}

func (c *sockConn) Close() error { return c.nc.Close() }
