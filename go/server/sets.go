package server

import (
	"strconv"
	"strings"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// The set commands: SADD and friends, on store's sets.

// appendSet appends the header of a set of n members: a RESP3 set, or in
// RESP2 an array.
func (c *conn) appendSet(out []byte, n int) []byte {
	if c.resp3 {
		return resp.AppendSet(out, n)
	}
	return resp.AppendArray(out, n)
}

// appendNames appends set members or hash fields as a set (asSet) or an array.
func (c *conn) appendNames(out []byte, members []string, asSet bool) []byte {
	if asSet {
		out = c.appendSet(out, len(members))
	} else {
		out = resp.AppendArray(out, len(members))
	}
	for _, m := range members {
		if c.overflowing(out) {
			break // never sent (see overflowing): stop before it costs more
		}
		out = resp.AppendBulkString(out, m)
	}
	return out
}

// cmdSAdd is SADD and SREM key member [member ...]: how many were added
// or removed.
func cmdSAdd(c *conn, args [][]byte, out []byte) []byte {
	var n int
	var err error
	if is(args[0], "SADD") {
		n, err = c.s.store.SAdd(args[1], args[2:])
	} else {
		n, err = c.s.store.SRem(args[1], args[2:])
	}
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

func cmdSMembers(c *conn, args [][]byte, out []byte) []byte {
	members, err := c.s.store.SMembers(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendNames(out, members, true)
}

// cmdSIsMember is SISMEMBER key member (0 or 1) and SMISMEMBER key member
// [member ...] (an array of them).
func cmdSIsMember(c *conn, args [][]byte, out []byte) []byte {
	found, err := c.s.store.SMIsMember(args[1], args[2:])
	if err != nil {
		return appendErr(out, err)
	}
	if is(args[0], "SMISMEMBER") {
		out = resp.AppendArray(out, len(found))
	}
	for _, ok := range found {
		if ok {
			out = resp.AppendInt(out, 1)
		} else {
			out = resp.AppendInt(out, 0)
		}
	}
	return out
}

func cmdSCard(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.SCard(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

// cmdSPop is SPOP key [count]: a member or null, or with count a set of up
// to count members.
func cmdSPop(c *conn, args [][]byte, out []byte) []byte {
	if len(args) > 3 {
		return resp.AppendError(out, errSyntax)
	}
	count := int64(1)
	if len(args) == 3 {
		var ok bool
		if count, ok = store.ParseInt(args[2]); !ok || count < 0 {
			return resp.AppendError(out, "ERR value is out of range, must be positive")
		}
	}
	members, err := c.s.store.SPop(args[1], int(min(count, 1<<40)))
	switch {
	case err != nil:
		return appendErr(out, err)
	case len(args) == 3:
		return c.appendNames(out, members, true)
	case len(members) == 0:
		return c.appendNull(out)
	}
	return resp.AppendBulkString(out, members[0])
}

// cmdSRandMember is SRANDMEMBER key [count]: a member or null, or with
// count an array (see randomCount).
func cmdSRandMember(c *conn, args [][]byte, out []byte) []byte {
	if len(args) > 3 {
		return resp.AppendError(out, errSyntax)
	}
	count, repeat := 1, false
	if len(args) == 3 {
		var msg string
		if count, repeat, msg = randomCount(args[2], 1); msg != "" {
			return resp.AppendError(out, msg)
		}
	}
	started := false
	err := c.s.store.SRandMember(args[1], count, repeat, func(total int, m string) bool {
		if !started && len(args) == 3 {
			out = resp.AppendArray(out, total)
		}
		out, started = resp.AppendBulkString(out, m), true
		return !c.overflowing(out)
	})
	switch {
	case err != nil:
		return appendErr(out, err)
	case started:
		return out
	case len(args) == 3:
		return resp.AppendArray(out, 0)
	}
	return c.appendNull(out)
}

func cmdSMove(c *conn, args [][]byte, out []byte) []byte {
	ok, err := c.s.store.SMove(args[1], args[2], args[3])
	switch {
	case err != nil:
		return appendErr(out, err)
	case ok:
		return resp.AppendInt(out, 1)
	}
	return resp.AppendInt(out, 0)
}

// setOp returns the operation of SINTER, SUNION, SDIFF and their STORE
// forms.
func setOp(name []byte) store.SetOp {
	switch lower := string(lowerName(name)); {
	case strings.HasPrefix(lower, "sunion"):
		return store.Union
	case strings.HasPrefix(lower, "sdiff"):
		return store.Diff
	}
	return store.Inter
}

// cmdSCombine is SINTER, SUNION and SDIFF key [key ...]: a set.
func cmdSCombine(c *conn, args [][]byte, out []byte) []byte {
	members, err := c.s.store.SCombine(setOp(args[0]), args[1:])
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendNames(out, members, true)
}

// cmdSCombineStore is SINTERSTORE, SUNIONSTORE and SDIFFSTORE destination
// key [key ...]: the size of the set stored.
func cmdSCombineStore(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.SCombineStore(setOp(args[0]), args[1], args[2:])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

// cmdSInterCard is SINTERCARD numkeys key [key ...] [LIMIT limit].
func cmdSInterCard(c *conn, args [][]byte, out []byte) []byte {
	n, ok := store.ParseInt(args[1])
	switch {
	case !ok || n < 1:
		return resp.AppendError(out, "ERR numkeys should be greater than 0")
	case n > int64(len(args)-2):
		return resp.AppendError(out, "ERR Number of keys can't be greater than number of args")
	}
	keys, rest := args[2:2+n], args[2+n:]
	limit := int64(0)
	for len(rest) > 0 {
		if !is(rest[0], "LIMIT") || len(rest) < 2 {
			return resp.AppendError(out, errSyntax)
		}
		if limit, ok = store.ParseInt(rest[1]); !ok || limit < 0 {
			return resp.AppendError(out, "ERR LIMIT can't be negative")
		}
		rest = rest[2:]
	}
	card, err := c.s.store.SInterCard(keys, int(min(limit, 1<<40)))
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(card))
}

// cmdSScan is SSCAN key cursor [MATCH pattern] [COUNT n].
func cmdSScan(c *conn, args [][]byte, out []byte) []byte {
	cursor, pattern, count, _, msg := scanOptions(args, false)
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	next, members, err := c.s.store.SScan(args[1], cursor, pattern, count)
	if err != nil {
		return appendErr(out, err)
	}
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, strconv.FormatUint(next, 10))
	return c.appendNames(out, members, false)
}
