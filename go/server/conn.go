package server

import (
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// conn is one client connection: what a command sees of its client, the
// same on both loops. connIO, one per loop (loop.go, loop_portable.go), is
// how the loop reads and writes the socket.
type conn struct {
	connIO
	s      *Server
	loop   *loop // the loop that serves it
	id     int64
	remote string
	rd     *resp.Reader
	out    []byte // replies not yet written (on the epoll loop, but for spliced values)
	authed bool
	name   string // set by CLIENT SETNAME
	resp3  bool   // the client switched to RESP3 with HELLO 3

	eof   bool     // the client sends nothing more
	quit  bool     // close once the replies are written
	block *blocked // set while a BLPOP, BRPOP or BLMOVE waits for a value

	tx    *transaction // set between MULTI and EXEC or DISCARD
	watch *store.Watch // the keys WATCHed until EXEC, DISCARD or UNWATCH

	// For CLIENT LIST (clients.go); guarded by Server.running, set before
	// the conn is listed or by the commands it runs.
	created time.Time
	fdNum   int
	local   string   // the local address, on TCP
	lastCmd *command // the last command run, and when it started
	lastAt  time.Time
	lastSub string // the last CLIENT subcommand, if lastCmd is CLIENT
	killed  bool   // CLIENT KILL: run no more commands

	tracking bool           // CLIENT TRACKING ON: told of changes to keys it read (only where the loop canPush)
	sub      *subscriptions // its channels and patterns, once it subscribed
	passNear bool           // the next write carries the near cache's table (CLIENT NEARCACHE, only where the loop canPassFD)

	// While the server stops (cutStalled, on the loop goroutine): the reply
	// bytes written when last seen, and since when that has stayed so.
	drainMark int64
	stalled   time.Time
}

// setAuthed records whether c has authenticated. Until it has, c runs only
// the commands that need no password, and only small commands are read.
func (c *conn) setAuthed(authed bool) {
	c.authed = authed
	c.rd.SetLimits(c.s.cfg.readLimits(authed))
}

// runNext runs c's next buffered command, if a whole one is buffered, and
// reports whether it ran one. After a protocol error it runs none: c is to
// quit once the error is written. A command whose replies pass max_output
// has them dropped unsent and c is to quit, as Redis closes a client past
// its hard limit.
func (c *conn) runNext() bool {
	args, err := c.rd.Next()
	if err == resp.ErrIncomplete {
		return false
	}
	if err != nil {
		c.protocolError(err.(*resp.ProtocolError))
		return false
	}
	var quit, busy bool
	if c.out, busy = c.s.whileBusy(c, args, c.out); !busy { // a script runs: -BUSY without waiting for it
		c.s.running.Lock()
		if c.killed { // by CLIENT KILL, from another connection
			c.s.running.Unlock()
			c.quit = true
			return false
		}
		c.out, quit = c.s.exec(c, args, c.out)
		c.ordered()
		c.s.running.Unlock()
	}
	c.quit = c.quit || quit
	if c.overflowing(c.out) {
		c.s.log.Warn("closing a client whose replies passed max_output",
			"remote", c.remote, "unsent", c.unsent(), "max_output", c.maxOutput())
		c.s.dropped(cap(c.out))
		c.dropReplies()
		c.quit = true
	}
	return true
}

// protocolError answers a request that breaks the protocol, and closes c
// once that is written: what follows in the buffer cannot be trusted.
func (c *conn) protocolError(perr *resp.ProtocolError) {
	c.s.log.Info("closing client after protocol error", "remote", c.remote, "err", perr.Msg)
	c.out = resp.AppendError(c.out, "ERR "+perr.Error())
	c.quit = true
}

// stalledOut, run by cutStalled on the loop goroutine while the server
// stops, reports whether c has taken no reply bytes for drainStall.
func (c *conn) stalledOut(now time.Time) bool {
	if w := c.writtenBytes(); w != c.drainMark || c.stalled.IsZero() {
		c.drainMark, c.stalled = w, now
		return false
	}
	return now.Sub(c.stalled) >= drainStall
}
