//go:build linux && !tmc_portable

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

// armSlack is how far the kernel's timeout for a wait may be from the time
// the call has left before it is set again: a call that does not wait
// long never changes it, and none outlasts its deadline by more.
const armSlack = 10 * time.Millisecond

// checkEvery is how many reads in a row may find data at once before one
// of them looks at the clock: a server that keeps sending fast cannot
// keep a call going past its deadline either.
const checkEvery = 16

// sockConn is a connected socket used with plain blocking system calls
// rather than Go's network poller.
//
// The client runs on the thread of whoever calls it through cgo, usually a
// Python thread. With the poller, a read that must wait parks that thread
// and another thread has to notice the reply and wake it: several context
// switches per request. A blocking read lets the kernel wake the caller
// directly, as Python's own sockets do, which is what the latency of a
// single get or set is made of.
//
// Each call has one deadline. A blocking read or write waits at most until
// then (SO_RCVTIMEO and SO_SNDTIMEO, kept to the time left), so a server
// that trickles bytes cannot stretch a call, and a signal that interrupts
// a wait ends the call if the interrupted hook says so.
type sockConn struct {
	fd          int
	interrupted func() bool // asked after a signal interrupts a wait; nil = never end

	deadline time.Time     // when the current call must end; zero = never
	fast     int           // reads in a row that found data at once
	rcv, snd time.Duration // current SO_RCVTIMEO and SO_SNDTIMEO; 0 = none
}

// dialSock connects with Go's dialer by deadline (zero = none), then takes
// over a blocking duplicate of the socket.
func dialSock(network, address string, deadline time.Time) (*sockConn, error) {
	nc, err := (&net.Dialer{Deadline: deadline}).Dial(network, address)
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

// begin starts a call that must end by deadline (zero = never).
func (c *sockConn) begin(deadline time.Time) {
	c.deadline, c.fast = deadline, 0
}

// arm readies the socket for a blocking wait on opt, whose kernel timeout
// is *cur: it fails once the deadline has passed, and otherwise keeps the
// timeout within armSlack of the time left.
func (c *sockConn) arm(opt int, cur *time.Duration) error {
	want := time.Duration(0)
	if !c.deadline.IsZero() {
		if want = time.Until(c.deadline); want <= 0 {
			return os.ErrDeadlineExceeded
		}
		want = max(want, time.Microsecond) // a zero timeval would mean no limit
	}
	if want == *cur || want != 0 && *cur != 0 && want-*cur <= armSlack && *cur-want <= armSlack {
		return nil
	}
	tv := syscall.NsecToTimeval(want.Nanoseconds())
	if err := syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	*cur = want
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
			if c.fast++; c.fast%checkEvery == 0 && !c.deadline.IsZero() && time.Now().After(c.deadline) {
				return 0, os.ErrDeadlineExceeded
			}
			return int(n), nil
		case errno == 0:
			return 0, io.EOF
		case errno != syscall.EAGAIN && errno != syscall.EINTR:
			return 0, os.NewSyscallError("read", errno)
		}
	}
	c.fast = 0
	for {
		if err := c.arm(syscall.SO_RCVTIMEO, &c.rcv); err != nil {
			return 0, err
		}
		n, err := syscall.Read(c.fd, p)
		switch {
		case err == syscall.EINTR:
			if c.interrupted != nil && c.interrupted() {
				return 0, errInterrupted
			}
		case err == syscall.EAGAIN: // the kernel's timeout: arm looks at the deadline
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		default:
			return n, nil
		}
	}
}

// Write, like Read, first sends what the socket takes without blocking;
// only the rest waits, within the deadline.
func (c *sockConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
	done := int(n)
	switch {
	case errno == 0 && done == len(p):
		return done, nil
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		done = 0
	case errno != 0:
		return 0, os.NewSyscallError("write", errno)
	}
	for done < len(p) {
		if err := c.arm(syscall.SO_SNDTIMEO, &c.snd); err != nil {
			return done, err
		}
		n, _, errno := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&p[done])), uintptr(len(p)-done), syscall.MSG_NOSIGNAL, 0, 0)
		switch {
		case errno == syscall.EINTR:
			if c.interrupted != nil && c.interrupted() {
				return done, errInterrupted
			}
		case errno == syscall.EAGAIN: // the kernel's timeout: arm looks at the deadline
		case errno != 0:
			return done, os.NewSyscallError("write", errno)
		default:
			done += int(n)
		}
	}
	return done, nil
}

func (c *sockConn) Close() error { return syscall.Close(c.fd) }

// threadID is the calling thread's id, for the Interrupted hook's re-entry
// check.
func threadID() int64 { return int64(syscall.Gettid()) }
