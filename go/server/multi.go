package server

import (
	"strconv"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// transaction is what a connection has queued since MULTI.
//
// EXEC runs the queued commands back to back, as one command, under the
// server's running lock that every loop holds while it runs a command, so
// no other client's command can come between them: the transaction is
// atomic and isolated.
type transaction struct {
	queue  []queued
	bytes  int  // what queue holds, counted against the client's query limit
	failed bool // a command was refused while queuing: EXEC discards all
}

// queued is one command waiting for EXEC; args are copies, as the reader
// reuses its buffer.
type queued struct {
	cmd  *command
	args [][]byte
}

// queuedOverhead approximates what a queued command costs beyond its
// argument bytes: its slot and its argument slice.
const queuedOverhead = 64

// refused marks c's transaction, if any, as failed: EXEC will discard it,
// as Redis does when a command is refused (unknown, wrong arity, no auth)
// while queuing. It returns out unchanged.
func (c *conn) refused(out []byte) []byte {
	if c.tx != nil {
		c.tx.failed = true
	}
	return out
}

// enqueue queues a command for EXEC and replies +QUEUED. A transaction that
// would hold more than the client's query buffer limit is failed and its
// queue dropped at once, so one client cannot make the server hold
// unbounded memory a command at a time.
func (c *conn) enqueue(cmd *command, args [][]byte, out []byte) []byte {
	tx := c.tx
	size := queuedOverhead + 24*len(args)
	for _, a := range args {
		size += len(a)
	}
	if tx.failed {
		return resp.AppendSimple(out, "QUEUED") // EXEC will refuse; keep nothing
	}
	if tx.bytes+size > c.s.cfg.MaxQuery {
		tx.queue, tx.bytes, tx.failed = nil, 0, true
		return resp.AppendError(out, "ERR transaction discarded: the queued commands exceed the client query buffer limit ("+strconv.Itoa(c.s.cfg.MaxQuery)+" bytes)")
	}
	buf := make([]byte, 0, size)
	copied := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		copied[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	tx.queue = append(tx.queue, queued{cmd, copied})
	tx.bytes += size
	return resp.AppendSimple(out, "QUEUED")
}

func cmdMulti(c *conn, args [][]byte, out []byte) []byte {
	if c.tx != nil {
		return resp.AppendError(out, "ERR MULTI calls can not be nested")
	}
	c.tx = &transaction{}
	return resp.AppendSimple(out, "OK")
}

func cmdDiscard(c *conn, args [][]byte, out []byte) []byte {
	if c.tx == nil {
		return resp.AppendError(out, "ERR DISCARD without MULTI")
	}
	c.discard()
	return resp.AppendSimple(out, "OK")
}

// discard drops c's transaction and its watches.
func (c *conn) discard() {
	c.tx = nil
	c.unwatch()
}

// cmdExec runs the queued commands and replies with an array of their
// replies. Errors of single commands are elements of the array; the other
// commands still run, as in Redis. A command that would block (BLPOP,
// BLMOVE on an empty list) does not: it gets the reply of a timeout.
func cmdExec(c *conn, args [][]byte, out []byte) []byte {
	tx := c.tx
	switch {
	case tx == nil:
		return resp.AppendError(out, "ERR EXEC without MULTI")
	case tx.failed:
		c.discard()
		return resp.AppendError(out, "EXECABORT Transaction discarded because of previous errors.")
	case c.watchFailed():
		c.discard()
		return c.appendNullArray(out)
	}
	c.discard()
	out = resp.AppendArray(out, len(tx.queue))
	for _, q := range tx.queue {
		// Once the replies pass max_output, the loop closes c after EXEC
		// and sends none of them. The rest of the transaction still
		// changes the data, as one, but keeps no replies, and what only
		// reads is not run.
		full, at := c.overflowing(out), len(out)
		if full && q.cmd.readOnly() {
			continue
		}
		out = c.s.call(c, q.cmd, q.args, out) // counted one by one, as in Redis
		if b := c.block; b != nil {
			c.block = nil
			b.stop(c.s.store)
			out = b.reply(c, out, nil)
		}
		if full {
			out = c.drop(out, at)
		}
	}
	return out
}

func cmdWatch(c *conn, args [][]byte, out []byte) []byte {
	if c.tx != nil {
		return resp.AppendError(out, "ERR WATCH inside MULTI is not allowed")
	}
	c.watch = c.s.store.Watch(c.watch, args[1:])
	return resp.AppendSimple(out, "OK")
}

func cmdUnwatch(c *conn, args [][]byte, out []byte) []byte {
	c.unwatch()
	return resp.AppendSimple(out, "OK")
}

func (c *conn) unwatch() {
	if c.watch != nil {
		c.s.store.Unwatch(c.watch)
		c.watch = nil
	}
}

// watchFailed reports whether a key that c watches has changed.
func (c *conn) watchFailed() bool {
	return c.watch != nil && c.s.store.Changed(c.watch)
}
