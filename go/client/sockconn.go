//go:build linux && !tmc_portable

package client

import (
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"github.com/tiny-mp-cache/tiny-mp-cache/internal/sock"
)

// armSlack is how far the kernel's timeout for a wait may be from the time
// the call has left before it is set again: a call that does not wait
// long never changes it, and none outlasts its deadline by more.
const armSlack = 10 * time.Millisecond

// quickWait is the longest a read waits for its reply as a raw system call,
// one the Go scheduler does not see, before it waits as an ordinary one.
const quickWait = 2 * time.Millisecond

// sockConn is a connected socket used with plain blocking system calls
// rather than Go's network poller.
//
// The client runs on the thread of whoever calls it through cgo, usually a
// Python thread. With the poller, a read that must wait parks that thread
// and another thread has to notice the reply and wake it: several context
// switches per request. A blocking read lets the kernel wake the caller
// directly, as Python's own sockets do, which is what the latency of a
// single get or set is made of. A call makes two system calls, a send and
// a receive, when the reply comes within quickWait.
//
// Each call has one deadline. A blocking read or write waits at most until
// then (SO_RCVTIMEO and SO_SNDTIMEO, kept to the time left), so a server
// that trickles bytes cannot stretch a call, and a signal that interrupts
// a wait ends the call if the interrupted hook says so.
type sockConn struct {
	fd          int
	interrupted func() bool // asked after a signal interrupts a wait; nil = never end

	deadline time.Time     // when the current call must end; zero = never
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
	c.deadline = deadline
}

// arm readies the socket for a blocking wait on opt, whose kernel timeout
// is *cur, of at most limit (0 = up to the deadline): it fails once the
// deadline has passed, and otherwise keeps the timeout within armSlack of
// the time left, and within limit.
func (c *sockConn) arm(opt int, cur *time.Duration, limit time.Duration) error {
	want := time.Duration(0)
	if !c.deadline.IsZero() {
		if want = time.Until(c.deadline); want <= 0 {
			return os.ErrDeadlineExceeded
		}
		want = max(want, time.Microsecond) // a zero timeval would mean no limit
	}
	if limit > 0 && (want == 0 || want > limit) {
		want = limit
	}
	if want == *cur || want != 0 && *cur != 0 && want-*cur <= armSlack && *cur-want <= armSlack && (limit == 0 || *cur <= limit) {
		return nil
	}
	tv := syscall.NsecToTimeval(want.Nanoseconds())
	if err := syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	*cur = want
	return nil
}

// Read waits for the reply in one raw system call for up to quickWait, and
// then, if it has not come, as an ordinary one until the deadline.
//
// A raw system call costs the wait nothing but the call itself. Through
// the scheduler (syscall.Syscall), a thread that waits is marked as in a
// system call, which wakes the runtime's monitor thread (sysmon), and must
// win its P back when the call returns; a read that first tried without
// waiting, to avoid that, made a third, failing system call whenever the
// server ran on another CPU.
//
// A raw wait keeps the thread's P, which is why it is short:
//   - Other goroutines, such as another thread's call into the library
//     while all Ps are taken, wait at most quickWait for one.
//   - A stop of the world (for the garbage collector) or a stack scan
//     waits for this goroutine to stop, and the runtime asks it to with a
//     signal (SIGURG), again every 100 us until it does. Go installs its
//     handlers with SA_RESTART, but a receive from a socket with a timeout
//     set is never restarted after a handler (man 7 signal): it fails with
//     EINTR. The raw wait always has a timeout (arm with limit quickWait
//     never leaves it at 0, which would mean none), so the signal ends it,
//     and runtime.Gosched then gives the runtime its safe point: code
//     after a raw system call need not have one of its own.
func (c *sockConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	quick := true
	for {
		limit := time.Duration(0)
		if quick {
			limit = quickWait
		}
		if err := c.arm(syscall.SO_RCVTIMEO, &c.rcv, limit); err != nil {
			return 0, err
		}
		var n uintptr
		var errno syscall.Errno
		if quick {
			n, _, errno = syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(c.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
		} else {
			n, _, errno = syscall.Syscall6(syscall.SYS_RECVFROM, uintptr(c.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
		}
		switch {
		case errno == syscall.EINTR:
			runtime.Gosched()
			if c.interrupted != nil && c.interrupted() {
				return 0, errInterrupted
			}
		case errno == syscall.EAGAIN: // the kernel's timeout: arm looks at the deadline
			quick = false
		case errno != 0:
			return 0, os.NewSyscallError("read", errno)
		case n == 0:
			return 0, io.EOF
		default:
			return int(n), nil
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
		if err := c.arm(syscall.SO_SNDTIMEO, &c.snd, 0); err != nil {
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
