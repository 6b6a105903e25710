package client

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/tiny-mp-cache/tiny-mp-cache/internal/sock"
)

// sockConn is a connected socket used with plain blocking system calls
// rather than Go's network poller.
//
// The client runs on the thread of whoever calls it through cgo, usually a
// Python thread. With the poller, a read that must wait parks that thread
// and another thread has to notice the reply and wake it: several context
// switches per request. A blocking read lets the kernel wake the caller
// directly, as Python's own sockets do, which is what the latency of a
// single get or set is made of.
type sockConn struct {
	fd      int
	timeout time.Duration // current SO_RCVTIMEO and SO_SNDTIMEO; 0 = none
}

// dialSock connects with Go's dialer, then takes over a blocking duplicate
// of the socket.
func dialSock(network, address string, timeout time.Duration) (*sockConn, error) {
	nc, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, err
	}
	fd, err := sock.Detach(nc)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	return &sockConn{fd: fd}, nil
}

// setTimeout bounds each later read and write by d (none if d <= 0). The
// kernel option is only changed when d does.
func (c *sockConn) setTimeout(d time.Duration) error {
	if d < 0 {
		d = 0
	}
	if d == c.timeout {
		return nil
	}
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	for _, opt := range []int{syscall.SO_RCVTIMEO, syscall.SO_SNDTIMEO} {
		if err := syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	c.timeout = d
	return nil
}

// Read first takes what is already there without blocking, as a raw
// system call: when the server shares the CPU, its reply is usually in by
// the time the request is written. Only a read that must wait goes through
// the Go scheduler, which then counts the thread as in a system call; its
// monitor thread otherwise wakes every 20 us while it is.
func (c *sockConn) Read(p []byte) (int, error) {
	if len(p) > 0 {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(c.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == 0 && n > 0:
			return int(n), nil
		case errno == 0:
			return 0, io.EOF
		case errno != syscall.EAGAIN && errno != syscall.EINTR:
			return 0, os.NewSyscallError("read", errno)
		}
	}
	for {
		n, err := syscall.Read(c.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, os.ErrDeadlineExceeded
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *sockConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := syscall.Write(c.fd, p[done:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return done, os.ErrDeadlineExceeded
		case err != nil:
			return done, os.NewSyscallError("write", err)
		}
		done += n
	}
	return done, nil
}

func (c *sockConn) Close() error { return syscall.Close(c.fd) }
