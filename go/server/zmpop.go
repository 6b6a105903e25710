package server

import (
	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// ZMPOP and BZMPOP (Redis 7.0): LMPOP and BLMPOP for sorted sets, popping
// as ZPOPMIN/ZPOPMAX do and waiting as BZPOPMIN does.

// cmdZMPop is ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: pops up
// to count members from the first non-empty sorted set, and replies with
// its key and the members with their scores.
func cmdZMPop(c *conn, args [][]byte, out []byte) []byte {
	keys, min, count, msg := mpopArgs(args[1:], "MIN", "MAX")
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	p, err := c.s.store.ZMPop(keys, min, count)
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendZMPopped(out, p)
}

// cmdBZMPop is BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]:
// ZMPOP that waits, as BZPOPMIN does, for a member to arrive.
func cmdBZMPop(c *conn, args [][]byte, out []byte) []byte {
	timeout, msg := blockTimeout(args[1])
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	keys, min, count, msg := mpopArgs(args[2:], "MIN", "MAX")
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	p, w, err := c.s.store.BZMPop(keys, min, count, c.wake)
	switch {
	case err != nil:
		return appendErr(out, err)
	case w != nil:
		// The event loop replies when the wait ends.
		c.block = &blocked{w: w, timeout: timeout, zmpop: true}
		return out
	}
	return c.appendZMPopped(out, p)
}

// appendZMPopped appends ZMPOP's reply: the key and its members, each with
// its score, or null.
func (c *conn) appendZMPopped(out []byte, p *store.Popped) []byte {
	if p == nil {
		return c.appendNullArray(out)
	}
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, p.Key)
	out = resp.AppendArray(out, len(p.Members))
	for _, m := range p.Members {
		out = resp.AppendArray(out, 2)
		out = resp.AppendBulkString(out, m.Member)
		out = c.appendScore(out, m.Score)
	}
	return out
}
