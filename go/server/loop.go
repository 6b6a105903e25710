//go:build linux && !tmc_portable

package server

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/tiny-mp-cache/tiny-mp-cache/internal/sock"
	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// multiplexingAPI is what INFO reports as multiplexing_api.
const multiplexingAPI = "epoll"

// loop serves its client connections from one goroutine that waits in
// epoll, as Redis does. A goroutine per connection would pay, for each
// request, a read that finds nothing, a park and a wake-up by the network
// poller: about half of the server's CPU time for a small GET.
//
// A server runs one loop per CPU (Config.Loops), and hands each new
// connection to the loop with the fewest. Only its loop's goroutine
// touches a connection. Other goroutines (the acceptor, Close, the timers
// of blocked pops, other loops) hand it work through post, and so does the
// store when a push serves a blocked pop.
type loop struct {
	s      *Server
	epfd   int
	wakefd int // an eventfd that post writes to wake the loop
	conns  map[int]*conn
	events []syscall.EpollEvent
	load   atomic.Int64 // connections handed to the loop and not yet closed

	draining bool // Close has begun: close each client once it is idle
	stopped  bool

	mu       sync.Mutex
	inbox    []func() // guarded by mu
	busy     bool     // guarded by mu: the loop will run the inbox before it waits
	woken    bool     // guarded by mu: wakefd has been written and not yet read
	released bool     // guarded by mu: the descriptors are closed
}

const (
	pollIn     = syscall.EPOLLIN | syscall.EPOLLRDHUP
	pollOut    = syscall.EPOLLOUT
	pollHangup = syscall.EPOLLRDHUP
)

func newLoop(s *Server) (*loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("eventfd2", errno)
	}
	l := &loop{
		s:      s,
		epfd:   epfd,
		wakefd: int(wakefd),
		conns:  make(map[int]*conn),
		events: make([]syscall.EpollEvent, 256),
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.wakefd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.wakefd, &ev); err != nil {
		l.release()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return l, nil
}

func (l *loop) release() {
	l.mu.Lock()
	l.released = true // a late timer must not write to a reused descriptor
	l.mu.Unlock()
	syscall.Close(l.wakefd)
	syscall.Close(l.epfd)
}

// post runs f on the loop goroutine.
func (l *loop) post(f func()) {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return
	}
	l.inbox = append(l.inbox, f)
	wake := !l.busy && !l.woken
	l.woken = l.woken || wake
	l.mu.Unlock()
	if wake {
		one := [8]byte{1}
		syscall.Write(l.wakefd, one[:])
	}
}

// run waits for ready connections and serves them until stop is posted.
func (l *loop) run() {
	defer l.release()
	for !l.stopped {
		n, err := l.wait()
		if err != nil {
			if err != syscall.EINTR {
				l.s.log.Error("epoll_wait failed", "err", err)
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		// Work posted from now on (mostly by the loop itself, as when a
		// push serves a blocked pop) runs before the next wait, with no
		// wake-up through wakefd; runInbox clears busy.
		l.mu.Lock()
		l.busy = true
		l.mu.Unlock()
		for _, ev := range l.events[:n] {
			if int(ev.Fd) == l.wakefd {
				var buf [8]byte
				syscall.Read(l.wakefd, buf[:])
				l.mu.Lock()
				l.woken = false
				l.mu.Unlock()
			} else if c := l.conns[int(ev.Fd)]; c != nil {
				l.ready(c, ev.Events)
			}
		}
		l.runInbox()
	}
}

// wait returns the next ready events, waiting as long as it takes.
//
// It first waits up to rawWait as a raw system call, which the Go
// scheduler is not told of: the loop's thread keeps its P (Serve keeps
// one more for the rest of the process) and runs on at once when woken,
// with no hand-off of the P and no wake-up of the runtime's monitor
// thread. That is the wait of a busy loop. An idle loop then waits
// through the scheduler, which hands its P away: a goroutine that holds
// its P for long is preempted by a signal every 10 ms.
func (l *loop) wait() (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(l.epfd),
		uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), rawWait, 0, 0)
	switch {
	case errno != 0:
		return 0, errno
	case n == 0:
		return syscall.EpollWait(l.epfd, l.events, -1)
	}
	return int(n), nil
}

// rawWait is how many milliseconds wait waits as a raw system call.
const rawWait = 2

// loopHoldsP says that a loop holds its P while it waits (see holdPs).
const loopHoldsP = true

// runInbox runs the posted work, including work that work posts.
func (l *loop) runInbox() {
	for {
		l.mu.Lock()
		work := l.inbox
		l.inbox = nil
		if len(work) == 0 {
			l.busy = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		for _, f := range work {
			f()
		}
	}
}

// add starts serving a client whose socket fd the loop now owns.
func (l *loop) add(c *conn) {
	l.conns[c.fd] = c
	l.s.listClient(c)
	c.polled = pollIn
	ev := syscall.EpollEvent{Events: c.polled, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		l.s.log.Warn("cannot poll client", "err", err)
		l.close(c)
		return
	}
	if l.draining {
		l.serve(c)
	}
}

// ready handles what epoll reported for c.
func (l *loop) ready(c *conn, events uint32) {
	if c.block != nil {
		// A blocked client is polled for a hang-up, and for room to write
		// the replies to the commands before its pop.
		if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			l.endWait(c, true)
		} else if !c.write() {
			l.close(c)
		} else {
			l.poll(c, c.interest())
		}
		return
	}
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && c.polled&syscall.EPOLLIN != 0 {
		if !l.read(c) {
			l.close(c)
			return
		}
	}
	l.serve(c)
}

// read reads once from c and reports whether the connection still works.
// A client that hung up may still get the replies to what it sent.
func (l *loop) read(c *conn) bool {
	err := c.rd.Fill()
	switch err {
	case nil, syscall.EAGAIN, syscall.EINTR:
		return true
	case io.EOF:
		c.eof = true
		return true
	}
	if perr, ok := err.(*resp.ProtocolError); ok {
		c.protocolError(perr)
		return true
	}
	l.s.log.Debug("client read failed", "err", err)
	return false
}

// serve runs c's buffered commands, writes the replies, and decides what to
// poll c for next: more commands, room to write, or a hang-up while a pop
// is blocked. It closes c when it is done with it.
//
// It returns to epoll only when no event can be missed: when c has no
// whole command buffered, or when replies wait for room in the socket (the
// room is the event), or when a pop is blocked (its value or timeout is).
func (l *loop) serve(c *conn) {
	for {
		full := l.runCommands(c)
		if !c.write() {
			l.close(c)
			return
		}
		if !full || c.unsent() > 0 {
			break
		}
		// The socket took every reply while commands wait in the
		// buffer; nothing would wake the loop for them, so run them now.
	}
	l.s.dropped(c.rd.Shrink())
	if c.block != nil {
		l.startWait(c)
	}
	if c.unsent() == 0 && c.block == nil && (c.quit || c.eof || l.draining) {
		l.close(c)
		return
	}
	l.poll(c, c.interest())
}

// runCommands runs c's buffered commands until one blocks, c is to quit,
// no whole command is left, or maxPending reply bytes wait to be written.
// It reports the last case: the commands left are not run yet.
func (l *loop) runCommands(c *conn) (full bool) {
	for c.block == nil && !c.quit {
		if c.unsent() >= maxPending {
			return true
		}
		if !c.runNext() {
			return false
		}
	}
	return false
}

// interest is what the loop waits for on c: room to write while replies
// are pending, a hang-up while a pop is blocked (and room, if replies from
// before the pop are pending), and more commands otherwise.
func (c *conn) interest() uint32 {
	switch {
	case c.block != nil && c.unsent() > 0:
		return pollHangup | pollOut
	case c.block != nil:
		return pollHangup
	case c.unsent() > 0:
		return pollOut
	}
	return pollIn
}

// poll changes what epoll reports for c; nothing at all if want is 0.
func (l *loop) poll(c *conn, want uint32) {
	if c.polled == want {
		return
	}
	op := syscall.EPOLL_CTL_MOD
	switch {
	case want == 0:
		op = syscall.EPOLL_CTL_DEL // errors and hang-ups are otherwise always reported
	case c.polled == 0:
		op = syscall.EPOLL_CTL_ADD
	}
	c.polled = want
	ev := syscall.EpollEvent{Events: want, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(l.epfd, op, c.fd, &ev); err != nil {
		l.s.log.Warn("cannot poll client", "err", err)
	}
}

// close hangs up on c.
func (l *loop) close(c *conn) {
	l.s.lockData()
	if c.block != nil {
		l.unblock(c, false)
	}
	c.discard()
	l.s.stopTracking(c)
	l.s.unlistClient(c)
	l.s.unsubscribeAll(c)
	l.s.running.Unlock()
	if c.soft != nil {
		c.soft.Stop()
		c.soft = nil
	}
	c.closeFDs()
	delete(l.conns, c.fd)
	syscall.Close(c.fd) // also removes it from the epoll set
	c.fd = -1
	l.load.Add(-1)
	l.s.unregister()
}

// canPush reports whether one client's command can send pushes to another
// (CLIENT TRACKING's invalidations): on these loops, yes.
func (l *loop) canPush() bool { return true }

// canPassFD reports whether a reply can carry a descriptor (CLIENT
// NEARCACHE): on this loop, yes (see write).
func (l *loop) canPassFD() bool { return true }

// push sends to the pushes p of a command that runs on l (see pushBatch):
// at once if to is on l too, else through to's loop.
func (l *loop) push(to *conn, p []byte) {
	if to.loop == l {
		to.out = append(to.out, p...)
		l.pushed(to)
		return
	}
	to.loop.post(func() {
		to.out = append(to.out, p...)
		to.loop.pushed(to)
	})
}

// startPushing readies c for pushes from other clients' commands (pub/sub
// messages): on these loops, any client can take them.
func (l *loop) startPushing(c *conn) {}

// pushed writes what another client's command has just appended to c.out
// (invalidations, messages), at once, so that c can read them before the
// writer has its reply. What the socket does not take waits for room, as
// replies do; a client that lets pushes pile up past its class's output
// limit (max_output, or max_output_pubsub for a subscriber) is closed.
func (l *loop) pushed(c *conn) {
	if c.fd < 0 || c.quit && c.out == nil {
		return // closed, or to be closed
	}
	if c.overflowing(c.out) {
		l.s.log.Warn("closing a client whose unread pushes passed its output limit",
			"remote", c.remote, "unsent", c.unsent(), "limit", c.maxOutput())
		l.s.dropped(cap(c.out))
		c.out, c.sent, c.spliced, c.extra, c.quit = nil, 0, nil, 0, true
		l.closeLater(c)
		return
	}
	if !c.write() {
		c.out, c.sent, c.spliced, c.extra, c.quit = nil, 0, nil, 0, true
		l.closeLater(c)
		return
	}
	if c.unsent() > 0 {
		l.poll(c, c.interest())
	}
}

// closeLater closes c once the work at hand is done: pushed may run while
// the publisher's command holds the running lock, which close takes.
func (l *loop) closeLater(c *conn) {
	l.post(func() {
		if c.fd >= 0 {
			l.close(c)
		}
	})
}

// startWait arms the timeout of c's blocked pop. The store wakes the loop
// through c.wake when a value arrives.
func (l *loop) startWait(c *conn) {
	b := c.block
	b.waiting = true
	l.s.blocked.Add(1)
	if b.timeout > 0 {
		b.timer = time.AfterFunc(b.timeout, func() {
			l.post(func() {
				if c.block == b {
					l.endWait(c, false)
				}
			})
		})
	}
}

// wake is called by the store once c's blocked pop has received a value,
// on whichever loop ran the command that pushed it.
func (c *conn) wake() {
	l := c.loop
	l.post(func() {
		if c.block != nil && len(c.block.w.C) > 0 {
			l.endWait(c, false)
		}
	})
}

// endWait replies to c's blocked pop, with the value it received or null,
// and goes on with c's other commands. If the client hung up, a value it
// received goes back to its list.
func (l *loop) endWait(c *conn, hungUp bool) {
	b := c.block
	l.s.lockData()
	p := l.unblock(c, !hungUp)
	l.s.running.Unlock()
	if hungUp {
		// A client that only shut down its sending side still reads the
		// null reply and what it sent after the pop; serve closes c once
		// the replies are written, or at once if it cannot write.
		c.eof = true
	}
	c.out = b.reply(c, c.out, p)
	l.serve(c)
}

// unblock ends c's blocked pop. With take, it returns the value the pop
// received, if any; otherwise it gives the wait up, and a value that
// reached it goes back to its list. It runs under the server's running
// lock: that change to a list must not land in the middle of a command.
func (l *loop) unblock(c *conn, take bool) *store.Popped {
	b := c.block
	c.block = nil
	if b.waiting {
		l.s.blocked.Add(-1)
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	if take {
		select {
		case v := <-b.w.C:
			return &v
		default:
		}
	}
	l.s.store.Cancel(b.w)
	l.s.store.ServeReady() // a value put back goes to the next waiter
	return nil
}

// drain starts a graceful stop: idle clients are closed now, the others
// once they have received the replies to what they sent.
func (l *loop) drain() {
	l.draining = true
	for _, c := range l.conns {
		if c.block != nil {
			l.endWait(c, false)
		} else {
			l.serve(c)
		}
	}
}

// cutStalled, run while draining, hangs up on each client that has taken
// no reply bytes for drainStall.
func (l *loop) cutStalled() {
	now := time.Now()
	for _, c := range l.conns {
		if c.stalledOut(now) {
			l.s.log.Warn("closing a client that reads no replies while the server stops",
				"remote", c.remote, "unsent", c.unsent())
			l.close(c)
		}
	}
}

// closeAll hangs up on every client.
func (l *loop) closeAll() {
	for _, c := range l.conns {
		l.close(c)
	}
}

// connIO is how the epoll loop reads and writes a conn's socket.
type connIO struct {
	fd   int
	sent int // bytes of replies already written, spliced values included

	// Big values of the replies in out, sent from the store's memory
	// rather than copied into out (see appendBulk), and their total size.
	spliced []splice
	extra   int

	written int64 // reply bytes written in all

	polled uint32      // the epoll events the loop waits for on this connection
	soft   *time.Timer // running while more than max_output_soft bytes are unsent

	unix          bool          // a unix socket: descriptors may come and go with the bytes (shared.go)
	inFDs, outFDs []int         // descriptors the client sent, not yet used (TMC.SETFD); to go with the next write (TMC.GETFD)
	staging       []byte        // the mapping of the client's staging memfd (TMC.STAGE)
	leases        map[*slab]int // the slabs TMC.GETFD passed it, and how often, not yet given back (slabs.go)
}

// blocked is a pop waiting for a value.
type blocked struct {
	w       *store.Waiter
	timeout time.Duration // 0 means forever
	timer   *time.Timer   // ends the wait after timeout
	move    bool          // BLMOVE: the reply is the value alone
	popPush bool          // BRPOPLPUSH: as BLMOVE, but a timeout replies with a null array
	mpop    bool          // BLMPOP: the reply is the key and an array of values
	zset    bool          // BZPOPMIN, BZPOPMAX: the reply is key, member and score
	zmpop   bool          // BZMPOP: the reply is the key and an array of members and scores
	stream  bool          // XREAD: the reply is the stream's new entries
	waiting bool          // startWait has counted it in Server.blocked
}

// stop gives up the wait. A value that reached it goes back to its list.
func (b *blocked) stop(st *store.Store) {
	if b.timer != nil {
		b.timer.Stop()
	}
	st.Cancel(b.w)
}

// newConn takes over the socket of nc, which it closes: the loop uses a
// duplicate of the descriptor that Go's network poller does not watch.
func (s *Server) newConn(nc net.Conn) (*conn, error) {
	remote := nc.RemoteAddr().String()
	fd, err := sock.Detach(nc)
	if err != nil {
		return nil, err
	}
	c := &conn{
		connIO: connIO{fd: fd},
		s:      s,
		id:     s.clientIDs.Add(1),
		remote: remote,
	}
	c.rd = resp.NewReader(c.socketReader(nc), s.cfg.limits())
	c.setAuthed(s.cfg.Password == "")
	return c, nil
}

// fdReader reads from a non-blocking socket; EAGAIN means nothing to read.
//
// Reads and writes on the loop's sockets never block, so they are made as
// raw system calls: the Go scheduler need not know, and sysmon does not
// wake up every 20 µs to check on a thread it thinks is in a system call.
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	switch {
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

func (c *conn) unsent() int { return len(c.out) + c.extra - c.sent }

// dropReplies drops c's unsent replies.
func (c *conn) dropReplies() { c.out, c.sent, c.spliced, c.extra = nil, 0, nil, 0 }

// ordered is the portable loop's hook for subscribers' replies: here a
// reply and a message both go to c.out, under the running lock, in order.
func (c *conn) ordered() {}

// writtenBytes is how many reply bytes c has written in all.
func (c *conn) writtenBytes() int64 { return c.written }

// overflowing reports whether out, c's replies, would leave more than
// max_output bytes waiting to be written. The loop then closes c, after
// the command, and drops its replies unsent, as Redis closes a client past
// its hard limit: a reply being built may stop growing at once.
func (c *conn) overflowing(out []byte) bool { return len(out)+c.extra-c.sent > c.maxOutput() }

// drop takes back the replies appended to out since it was at bytes long.
func (c *conn) drop(out []byte, at int) []byte {
	for n := len(c.spliced); n > 0 && c.spliced[n-1].at > at; n-- {
		c.extra -= len(c.spliced[n-1].v)
		c.spliced[n-1] = splice{} // the value may be freed
		c.spliced = c.spliced[:n-1]
	}
	return out[:at]
}

// bigReply is the size from which a value in a reply is not copied into
// out but sent from where it is.
const bigReply = 64 << 10

// splice is a value sent after out[:at] and before out[at:].
type splice struct {
	at int
	v  []byte
}

// appendBulk appends v as a bulk string reply. A big v is not copied: the
// reply refers to it until it is written. That is safe for a value from
// the store, whose bytes nothing writes into once stored (a new value gets
// a new allocation) and which stays alive while referred to.
func (c *conn) appendBulk(out, v []byte) []byte {
	if len(v) < bigReply {
		return resp.AppendBulk(out, v)
	}
	out = resp.AppendBulkHeader(out, len(v))
	c.spliced = append(c.spliced, splice{len(out), v})
	c.extra += len(v)
	return append(out, '\r', '\n')
}

// pending returns the next bytes of the replies to write: the rest of a
// piece of out, or of a spliced value.
func (c *conn) pending() []byte {
	off, from := c.sent, 0 // off: bytes of the replies past out[from:]
	for _, s := range c.spliced {
		if off < s.at-from {
			return c.out[from+off : s.at]
		}
		off -= s.at - from
		if off < len(s.v) {
			return s.v[off:]
		}
		off -= len(s.v)
		from = s.at
	}
	return c.out[from+off:]
}

// write sends as much of the pending replies as the socket takes and
// reports whether the connection still works.
func (c *conn) write() bool {
	for c.unsent() > 0 {
		var n int
		var err error
		if fds := c.rights(); fds != nil {
			n, err = syscall.SendmsgN(c.fd, c.pending(), syscall.UnixRights(fds...), nil, syscall.MSG_NOSIGNAL)
			if err == nil { // EAGAIN: nothing went, they go with the next try
				c.passed()
			}
		} else {
			n, err = send(c.fd, c.pending())
		}
		if err == syscall.EAGAIN {
			c.softLimit()
			return true
		}
		if err != nil && err != syscall.EINTR {
			return false
		}
		c.sent += n
		c.written += int64(n)
	}
	if n := cap(c.out); n > maxPending*4 {
		c.out = nil // one huge reply should not pin its buffer forever
		c.s.dropped(n)
	} else {
		c.out = c.out[:0]
	}
	clear(c.spliced) // the values may be freed
	c.sent, c.spliced, c.extra = 0, c.spliced[:0], 0
	c.softLimit()
	return true
}

// softLimit, run after each write to c, starts c's soft-limit clock once
// more than max_output_soft reply bytes wait to be written, and stops it
// once they no longer do. A client past it for max_output_soft_seconds on
// end is closed, as Redis closes one past its soft limit.
func (c *conn) softLimit() {
	after, bound := c.softOutput()
	switch over := bound > 0 && c.unsent() > bound; {
	case over && c.soft == nil:
		l := c.loop
		var t *time.Timer
		t = time.AfterFunc(after, func() {
			l.post(func() {
				if c.soft == t { // still past the bound: no write stopped the clock
					l.s.log.Warn("closing a client whose unread replies stayed past max_output_soft",
						"remote", c.remote, "unsent", c.unsent(), "max_output_soft", bound, "seconds", after.Seconds())
					l.close(c)
				}
			})
		})
		c.soft = t
	case !over && c.soft != nil:
		c.soft.Stop()
		c.soft = nil
	}
}

// send writes p to a socket without raising SIGPIPE if the peer is gone.
func send(fd int, p []byte) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), syscall.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
