package server

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// push returns LPUSH (left: at the head) or RPUSH (at the tail).
func push(left bool) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		n, err := c.s.store.Push(args[1], args[2:], left)
		if err != nil {
			return appendErr(out, err)
		}
		return resp.AppendInt(out, int64(n))
	}
}

// pop returns LPOP (left: from the head) or RPOP: key [count].
func pop(left bool) func(c *conn, args [][]byte, out []byte) []byte {
	name := []byte("rpop")
	if left {
		name = []byte("lpop")
	}
	return func(c *conn, args [][]byte, out []byte) []byte {
		if len(args) > 3 {
			return appendArityError(out, name)
		}
		count := int64(1)
		if len(args) == 3 {
			var ok bool
			if count, ok = store.ParseInt(args[2]); !ok || count < 0 {
				return resp.AppendError(out, "ERR value is out of range, must be positive")
			}
		}
		vals, err := c.s.store.Pop(args[1], left, int(min(count, 1<<30)))
		switch {
		case err != nil:
			return appendErr(out, err)
		case len(args) == 2:
			if len(vals) == 0 {
				return c.appendNull(out)
			}
			return resp.AppendBulk(out, vals[0])
		case vals == nil:
			return c.appendNullArray(out)
		}
		out = resp.AppendArray(out, len(vals))
		for _, v := range vals {
			out = resp.AppendBulk(out, v)
		}
		return out
	}
}

func cmdLLen(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.LLen(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

func cmdLRange(c *conn, args [][]byte, out []byte) []byte {
	start, ok1 := store.ParseInt(args[2])
	stop, ok2 := store.ParseInt(args[3])
	if !ok1 || !ok2 {
		return resp.AppendError(out, errNotInt)
	}
	vals, err := c.s.store.LRange(args[1], int(start), int(stop))
	if err != nil {
		return appendErr(out, err)
	}
	out = resp.AppendArray(out, len(vals))
	for _, v := range vals {
		if c.overflowing(out) {
			break // never sent (see overflowing): stop before it costs more
		}
		out = resp.AppendBulk(out, v)
	}
	return out
}

// bpop returns BLPOP (left: from the head) or BRPOP: key [key ...] timeout.
// It blocks this connection, and only this one, until a value arrives, the
// timeout (in seconds, 0 = forever) passes, the client hangs up or the
// server stops.
func bpop(left bool) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		timeout, msg := blockTimeout(args[len(args)-1])
		if msg != "" {
			return resp.AppendError(out, msg)
		}
		keys := args[1 : len(args)-1]
		p, w, err := c.s.store.BPop(keys, left, c.wake)
		if err != nil {
			return appendErr(out, err)
		}
		if w != nil {
			// The event loop replies when the wait ends.
			c.block = &blocked{w: w, timeout: timeout}
			return out
		}
		return c.appendPopped(out, p)
	}
}

// blockTimeout parses a blocking command's timeout, in seconds, as Redis
// does: a decimal or hexadecimal float, rounded up to whole milliseconds, so
// that a tiny positive timeout waits 1 ms. A timeout of 0, or a negative one
// that rounds up to 0, waits forever. NaN is not a float, and a timeout past
// maxTTL is out of range. It returns the timeout or an error message.
func blockTimeout(arg []byte) (time.Duration, string) {
	s := string(arg)
	secs, err := strconv.ParseFloat(s, 64)
	if errors.Is(err, strconv.ErrRange) && math.IsInf(secs, 0) {
		err = nil // a huge magnitude, refused below by its sign
	}
	if err != nil || math.IsNaN(secs) || strings.ContainsRune(s, '_') {
		return 0, errTimeout // Go's digit separators are not Redis syntax
	}
	ms := math.Ceil(secs * 1000)
	switch {
	case ms < 0:
		return 0, errNegative
	case ms > float64(maxTTL/time.Millisecond):
		return 0, errTimeoutRange
	case ms == 0 && secs == 0 && !math.Signbit(secs) && nonzeroMantissa(s):
		ms = 1 // positive, but too small for a float64 (1e-400)
	}
	return time.Duration(ms) * time.Millisecond, ""
}

// nonzeroMantissa reports whether a well-formed float's digits, before its
// exponent, are not all zeros.
func nonzeroMantissa(s string) bool {
	s = strings.TrimLeft(s, "+-")
	hex := len(s) > 1 && s[0] == '0' && (s[1]|0x20) == 'x'
	if hex {
		s = s[2:]
	}
	for _, ch := range s {
		switch {
		case ch == '0' || ch == '.':
		case '1' <= ch && ch <= '9', hex && 'a' <= ch|0x20 && ch|0x20 <= 'f':
			return true
		default: // the exponent
			return false
		}
	}
	return false
}

// appendPopped appends a blocking pop's reply: key and value, or null.
func (c *conn) appendPopped(out []byte, p *store.Popped) []byte {
	if p == nil {
		return c.appendNullArray(out)
	}
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, p.Key)
	return resp.AppendBulk(out, p.Value)
}

// reply appends the reply to a blocking command that has ended, with the
// value it received or, after a timeout, p == nil.
func (b *blocked) reply(c *conn, out []byte, p *store.Popped) []byte {
	if b.zmpop {
		return c.appendZMPopped(out, p)
	}
	if b.zset {
		return c.appendZPopped(out, p)
	}
	if b.stream {
		return c.appendXReadWait(out, p)
	}
	if b.mpop {
		return c.appendMPopped(out, p)
	}
	if !b.move {
		return c.appendPopped(out, p)
	}
	switch {
	case p == nil && b.popPush:
		return c.appendNullArray(out)
	case p == nil:
		return c.appendNull(out)
	case p.Err != nil:
		return appendErr(out, p.Err)
	}
	return resp.AppendBulk(out, p.Value)
}

// ends reads the LEFT and RIGHT arguments of LMOVE and BLMOVE: whether the
// value leaves the source at its head and enters the destination at its
// head.
func ends(from, to []byte) (fromLeft, toLeft, ok bool) {
	isEnd := func(a []byte) bool { return is(a, "LEFT") || is(a, "RIGHT") }
	if !isEnd(from) || !isEnd(to) {
		return false, false, false
	}
	return is(from, "LEFT"), is(to, "LEFT"), true
}

// cmdLMove is LMOVE source destination LEFT|RIGHT LEFT|RIGHT. With the
// same list twice, it rotates the list.
func cmdLMove(c *conn, args [][]byte, out []byte) []byte {
	fromLeft, toLeft, ok := ends(args[3], args[4])
	if !ok {
		return resp.AppendError(out, errSyntax)
	}
	v, ok, err := c.s.store.Move(args[1], args[2], fromLeft, toLeft)
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

// cmdBLMove is BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout:
// LMOVE that waits, as BLPOP does, for a value to arrive in an empty
// source. The value is moved when it arrives, before the reply, so a value
// is never out of both lists: a queue consumer that dies after the move
// finds the value in its destination (its "processing" list).
func cmdBLMove(c *conn, args [][]byte, out []byte) []byte {
	fromLeft, toLeft, ok := ends(args[3], args[4])
	if !ok {
		return resp.AppendError(out, errSyntax)
	}
	timeout, msg := blockTimeout(args[5])
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	v, w, err := c.s.store.BMove(args[1], args[2], fromLeft, toLeft, c.wake)
	switch {
	case err != nil:
		return appendErr(out, err)
	case w != nil:
		// The event loop replies when the wait ends.
		c.block = &blocked{w: w, timeout: timeout, move: true}
		return out
	}
	return resp.AppendBulk(out, v)
}
