//go:build !linux || tmc_portable

package server

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// multiplexingAPI is what INFO reports as multiplexing_api.
const multiplexingAPI = "goroutines"

// loop serves each client connection on a goroutine of its own, on Go's
// network poller. It is the server's loop on macOS and Windows, which have
// no epoll, and on Linux when built with -tags tmc_portable. It runs the
// same command table through Server.exec, one command at a time (under
// Server.running), as the epoll loops do: that is what keeps MULTI/EXEC
// and WATCH atomic and lets commands keep the server's counters unlocked.
// Reading requests and writing replies go on in parallel.
//
// The loop goroutine itself only runs what is posted to it (add, drain,
// closeAll, stop), so Server drives both loops the same way. Each
// connection's goroutine owns its conn.
type loop struct {
	s       *Server
	stopped bool          // set by the last work Serve posts
	drained chan struct{} // closed by drain: blocked pops end, idle clients go
	load    atomic.Int64  // connections handed to the loop and not yet closed

	mu       sync.Mutex
	inbox    []func()           // guarded by mu
	wakeup   chan struct{}      // one token: the inbox has work
	conns    map[*conn]struct{} // guarded by mu
	draining bool               // guarded by mu
	released bool               // guarded by mu: run has returned
}

func newLoop(s *Server) (*loop, error) {
	return &loop{
		s:       s,
		drained: make(chan struct{}),
		wakeup:  make(chan struct{}, 1),
		conns:   make(map[*conn]struct{}),
	}, nil
}

func (l *loop) release() {
	l.mu.Lock()
	l.released = true
	l.mu.Unlock()
}

// loopHoldsP says that a loop holds its P while it waits (see holdPs):
// not this one, which waits on a channel.
const loopHoldsP = false

// post runs f on the loop goroutine; nothing once the loop has stopped.
func (l *loop) post(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return
	}
	l.inbox = append(l.inbox, f)
	select {
	case l.wakeup <- struct{}{}:
	default:
	}
}

// run runs posted work until stop is posted.
func (l *loop) run() {
	defer l.release()
	for !l.stopped {
		<-l.wakeup
		l.mu.Lock()
		work := l.inbox
		l.inbox = nil
		l.mu.Unlock()
		for _, f := range work {
			f()
		}
	}
}

// add starts serving a client on its own goroutine.
func (l *loop) add(c *conn) {
	l.s.listClient(c)
	l.mu.Lock()
	l.conns[c] = struct{}{}
	if l.draining {
		c.nc.SetReadDeadline(time.Now()) // serve what it sent, then close
	}
	l.mu.Unlock()
	go l.serveConn(c)
}

// drain starts a graceful stop: idle clients are closed now, the others
// once they have received the replies to what they sent. A read that
// waits is cut short by a deadline in the past.
func (l *loop) drain() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.draining = true
	close(l.drained)
	for c := range l.conns {
		c.nc.SetReadDeadline(time.Now())
	}
}

// closeAll hangs up on every client; their goroutines then end.
func (l *loop) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.nc.Close()
	}
}

// cutStalled, run while draining, hangs up on each client that has taken
// no reply bytes for drainStall; one that keeps reading is served on.
func (l *loop) cutStalled() {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		if c.stalledOut(now) {
			// Not c.unsent(): c.out belongs to c's goroutine.
			l.s.log.Warn("closing a client that reads no replies while the server stops", "remote", c.remote)
			c.nc.Close() // its goroutine's write fails, and it closes c
		}
	}
}

func (l *loop) isDraining() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.draining
}

// serveConn reads, runs and answers c's commands until c is done.
func (l *loop) serveConn(c *conn) {
	defer l.close(c)
	for l.serve(c) {
		if c.block != nil {
			l.s.blocked.Add(1)
			ok := l.wait(c)
			l.s.blocked.Add(-1)
			if !ok {
				return
			}
		} else if !l.read(c) {
			return
		}
	}
}

// serve runs c's buffered commands and writes the replies. It reports
// whether c stays open: it is closed once it quit, sent everything it
// will, or the server drains, unless a pop is still blocked.
func (l *loop) serve(c *conn) bool {
	for c.block == nil && !c.quit && c.runNext() {
		if len(c.out) >= maxPending && !c.flush() {
			return false
		}
	}
	if !c.flush() {
		return false
	}
	l.s.dropped(c.rd.Shrink())
	return c.block != nil || !(c.quit || c.eof || l.isDraining())
}

// read waits for more of c's commands and reports whether c still works.
// A client that hung up may still get the replies to what it sent.
func (l *loop) read(c *conn) bool {
	err := c.rd.Fill()
	var perr *resp.ProtocolError
	switch {
	case err == nil:
	case err == io.EOF:
		c.eof = true
	case errors.Is(err, os.ErrDeadlineExceeded): // drain cut the read short
	case errors.As(err, &perr):
		c.protocolError(perr)
	default:
		l.s.log.Debug("client read failed", "err", err)
		return false
	}
	return true
}

// wait ends c's blocked pop: when a value arrives, the timeout passes, the
// server drains or the client hangs up. Meanwhile it reads on, to notice
// a hang-up; commands that arrive are buffered and run after the pop. It
// reports whether c stays open.
func (l *loop) wait(c *conn) bool {
	b := c.block
	var timeout <-chan time.Time
	if b.timeout > 0 {
		t := time.NewTimer(b.timeout)
		defer t.Stop()
		timeout = t.C
	}
	readErr := make(chan error, 1)
	go func() {
		for {
			if err := c.rd.Fill(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	var err error
	for err == nil {
		select {
		case <-c.woken:
			if len(b.w.C) > 0 {
				err = l.stopReader(c, readErr)
			} // else a value for an earlier wait woke c
		case <-timeout:
			err = l.stopReader(c, readErr)
		case <-l.drained:
			err = l.stopReader(c, readErr)
		case err = <-readErr:
		}
	}
	// Only a wait that ended as planned takes its value; otherwise a value
	// it received goes back to its list, for the next waiter.
	p := l.unblock(c, errors.Is(err, os.ErrDeadlineExceeded))
	var perr *resp.ProtocolError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.out = b.reply(c, c.out, p)
		return true
	case err == io.EOF: // the client hung up
		c.eof = true
		c.out = b.reply(c, c.out, nil)
		return c.rd.Buffered()
	case errors.As(err, &perr):
		c.out = b.reply(c, c.out, nil)
		c.protocolError(perr)
		return true
	}
	l.s.log.Debug("client read failed", "err", err)
	return false
}

// unblock ends c's wait. With take, it returns the value the wait
// received, if any; otherwise it gives the wait up. It runs under the
// server's running lock, as commands do: a value put back must not land in
// the middle of a command, and it is then served to the next waiter.
func (l *loop) unblock(c *conn, take bool) *store.Popped {
	l.s.lockData()
	defer l.s.running.Unlock()
	b := c.block
	c.block = nil // under the lock: CLIENT LIST on another connection reads it
	var p *store.Popped
	if take {
		p = b.end(l.s.store)
	} else {
		b.stop(l.s.store)
	}
	l.s.store.ServeReady()
	return p
}

// stopReader cuts short the read that wait started, waits for it to return
// c.rd, and returns its error.
func (l *loop) stopReader(c *conn, readErr <-chan error) error {
	c.nc.SetReadDeadline(time.Now())
	err := <-readErr
	l.mu.Lock()
	if !l.draining { // drain's deadline stays
		c.nc.SetReadDeadline(time.Time{})
	}
	l.mu.Unlock()
	return err
}

// close hangs up on c.
func (l *loop) close(c *conn) {
	if c.block != nil {
		l.unblock(c, false)
	}
	c.discard()
	l.s.running.Lock()
	l.s.unsubscribeAll(c)
	l.s.running.Unlock()
	if c.pusher != nil {
		c.pusher.finish() // the replies it queued, as QUIT's, go out first
	}
	c.nc.Close()
	l.s.running.Lock()
	l.s.unlistClient(c)
	l.s.running.Unlock()
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.load.Add(-1)
	l.s.unregister()
}

// canPush reports whether one client's command can send pushes to another
// (CLIENT TRACKING's invalidations). Not on this loop: each connection's
// goroutine owns its replies and may be waiting in a read.
func (l *loop) canPush() bool { return false }

// canPassFD reports whether a reply can carry a descriptor (CLIENT
// NEARCACHE): not on this loop, whose sockets belong to Go's net package.
func (l *loop) canPassFD() bool { return false }

// push sends to the pushes p of a command that runs on another client's
// goroutine (pub/sub messages): they join to's pusher's queue.
func (l *loop) push(to *conn, p []byte) {
	if to.pusher != nil {
		to.pusher.add(p)
	}
}

// startPushing readies c for pushes from other clients' commands: from
// now on a pusher writes all that c is sent, replies and messages, in
// the order the commands ran (see pusher).
func (l *loop) startPushing(c *conn) {
	if c.pusher == nil {
		c.pusher = newPusher(c)
	}
}

// wake is called by the store, with the store locked, once c's blocked pop
// has received a value.
func (c *conn) wake() {
	select {
	case c.woken <- struct{}{}:
	default:
	}
}

// connIO is how the portable loop reads and writes a conn's socket. On
// this loop, conn.tracking and conn.passNear are never set (canPush,
// canPassFD).
type connIO struct {
	nc      net.Conn
	woken   chan struct{} // the store has handed block a value
	written atomic.Int64  // reply bytes written in all
	pusher  *pusher       // writes its replies and messages, once it subscribed
}

// blocked is a pop waiting for a value.
type blocked struct {
	w       *store.Waiter
	timeout time.Duration // 0 means forever
	move    bool          // BLMOVE: the reply is the value alone
	popPush bool          // BRPOPLPUSH: as BLMOVE, but a timeout replies with a null array
	mpop    bool          // BLMPOP: the reply is the key and an array of values
	zset    bool          // BZPOPMIN, BZPOPMAX: the reply is key, member and score
	zmpop   bool          // BZMPOP: the reply is the key and an array of members and scores
	stream  bool          // XREAD: the reply is the stream's new entries
}

// end returns the value the wait received, or gives the wait up and
// returns nil.
func (b *blocked) end(st *store.Store) *store.Popped {
	select {
	case p := <-b.w.C:
		return &p
	default:
	}
	b.stop(st)
	return nil
}

// stop gives up the wait. A value that reached it goes back to its list.
func (b *blocked) stop(st *store.Store) { st.Cancel(b.w) }

func (s *Server) newConn(nc net.Conn) (*conn, error) {
	c := &conn{
		connIO: connIO{nc: nc, woken: make(chan struct{}, 1)},
		s:      s,
		id:     s.clientIDs.Add(1),
		remote: nc.RemoteAddr().String(),
	}
	c.rd = resp.NewReader(nc, s.cfg.limits())
	c.setAuthed(s.cfg.Password == "")
	return c, nil
}

// appendBulk appends v as a bulk string reply.
func (c *conn) appendBulk(out, v []byte) []byte { return resp.AppendBulk(out, v) }

// overflowing reports whether replies in out, none of them written yet,
// pass max_output. The loop then closes c, after the command, and drops
// its replies unsent, as Redis closes a client past its hard limit: a
// reply being built may stop growing at once.
func (c *conn) overflowing(out []byte) bool { return len(out) > c.maxOutput() }

// drop takes back the replies appended to out since it was at bytes long.
func (c *conn) drop(out []byte, at int) []byte { return out[:at] }

// unsent is how many reply bytes wait to be written.
func (c *conn) unsent() int { return len(c.out) }

// dropReplies drops c's unsent replies.
func (c *conn) dropReplies() { c.out = nil }

// ordered, run with the running lock held after each command, hands a
// subscriber's replies to its pusher, so that they reach the client in
// order with the messages published after the command.
func (c *conn) ordered() {
	if c.pusher != nil {
		c.out = c.pusher.take(c.out)
	}
}

// writtenBytes is how many reply bytes c has written in all; its
// goroutine counts them while the loop goroutine reads.
func (c *conn) writtenBytes() int64 { return c.written.Load() }

// flush writes the pending replies and reports whether that worked. A
// slow reader blocks only its own goroutine. It writes in pieces, so that
// cutStalled sees a slow reader of a huge reply make progress.
//
// While more than max_output_soft bytes are left to write, a deadline
// runs: a client past that soft limit for max_output_soft_seconds on end
// is closed, as Redis closes one past its soft limit.
func (c *conn) flush() bool {
	if c.pusher != nil { // it writes c's replies now
		c.out = c.pusher.take(c.out)
		return c.pusher.alive()
	}
	var err error
	after, bound := c.softOutput()
	var deadline time.Time // set while past the soft limit
	for p := c.out; len(p) > 0 && err == nil; {
		switch over := bound > 0 && len(p) > bound; {
		case over && deadline.IsZero():
			deadline = time.Now().Add(after)
			c.nc.SetWriteDeadline(deadline)
		case !over && !deadline.IsZero():
			deadline = time.Time{}
			c.nc.SetWriteDeadline(deadline)
		}
		var n int
		n, err = c.nc.Write(p[:min(len(p), flushPiece)])
		c.written.Add(int64(n))
		p = p[n:]
	}
	if !deadline.IsZero() {
		c.nc.SetWriteDeadline(time.Time{})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.s.log.Warn("closing a client whose unread replies stayed past max_output_soft",
				"remote", c.remote, "max_output_soft", bound, "seconds", after.Seconds())
		}
	}
	if n := cap(c.out); n > maxPending*4 {
		c.out = nil // one huge reply should not pin its buffer forever
		c.s.dropped(n)
	} else {
		c.out = c.out[:0]
	}
	return err == nil
}

// flushPiece is the most flush writes at once.
const flushPiece = 256 << 10
