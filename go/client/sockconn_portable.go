//go:build !linux || tmc_portable

package client

import (
	"bytes"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"
)

// pollSlice is the longest one wait on the poller lasts before the
// Interrupted hook is asked whether a signal should end the call.
const pollSlice = 100 * time.Millisecond

// sockConn is a connection on Go's network poller, where the blocking
// system calls of the Linux sockConn are not used (macOS, Windows, and
// Linux built with -tags tmc_portable).
//
// Each call has one deadline, as there. A wait on the poller is not cut
// short by a signal, so while an Interrupted hook is set a wait lasts at
// most pollSlice at a time and the hook is asked in between: Ctrl-C ends a
// waiting call within about pollSlice.
type sockConn struct {
	nc          net.Conn
	interrupted func() bool // asked between slices of a wait; nil = never end

	deadline time.Time // when the current call must end; zero = never
}

// dialSock connects by deadline (zero = none).
func dialSock(network, address string, deadline time.Time) (*sockConn, error) {
	nc, err := (&net.Dialer{Deadline: deadline, Control: dialControl}).Dial(network, address)
	if err != nil {
		return nil, err
	}
	return &sockConn{nc: nc}, nil
}

// begin starts a call that must end by deadline (zero = never).
func (c *sockConn) begin(deadline time.Time) { c.deadline = deadline }

// wait runs op, a read or a write, under set's deadline: the call's, or
// a slice of it while the hook is set. Progress, or any error but a
// deadline's, is op's result; a slice that ran out asks the hook.
func (c *sockConn) wait(set func(time.Time) error, op func() (int, error)) (int, error) {
	for {
		until := c.deadline
		if c.interrupted != nil {
			if slice := time.Now().Add(pollSlice); until.IsZero() || slice.Before(until) {
				until = slice
			}
		}
		if err := set(until); err != nil {
			return 0, err
		}
		n, err := op()
		switch {
		case n > 0:
			return n, nil
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return 0, err
		case !c.deadline.IsZero() && !time.Now().Before(c.deadline):
			return 0, err
		case c.interrupted != nil && c.interrupted():
			return 0, errInterrupted
		}
	}
}

func (c *sockConn) Read(p []byte) (int, error) {
	return c.wait(c.nc.SetReadDeadline, func() (int, error) { return c.nc.Read(p) })
}

func (c *sockConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := c.wait(c.nc.SetWriteDeadline, func() (int, error) { return c.nc.Write(p[done:]) })
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (c *sockConn) Close() error { return c.nc.Close() }

// threadID identifies the caller for the Interrupted hook's re-entry
// check. The hook runs on the call's own goroutine, which cgo keeps on the
// calling thread, and a signal handler's nested call runs on that goroutine
// again; so its number, from the stack header "goroutine N [...", serves.
func threadID() int64 {
	var buf [64]byte
	header := buf[:runtime.Stack(buf[:], false)]
	number, _, _ := bytes.Cut(bytes.TrimPrefix(header, []byte("goroutine ")), []byte(" "))
	id, _ := strconv.ParseInt(string(number), 10, 64)
	return id
}
