package server

// The string, key and list commands that job queues and framework
// backends send beyond the basic ones: APPEND, GETRANGE, SETRANGE, STRLEN,
// MSETNX, RENAME, RENAMENX, COPY, RANDOMKEY; LINDEX, LINSERT, LSET,
// LTRIM, LREM, LPOS, LPUSHX, RPUSHX, RPOPLPUSH, BRPOPLPUSH, LMPOP, BLMPOP.

import (
	"math"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// intArgs parses integer arguments, or returns false.
func intArgs(args ...[]byte) ([]int64, bool) {
	ns := make([]int64, len(args))
	for i, a := range args {
		n, ok := store.ParseInt(a)
		if !ok {
			return nil, false
		}
		ns[i] = n
	}
	return ns, true
}

// appendCount appends an integer reply, or the error.
func appendCount(out []byte, n int, err error) []byte {
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

// appendOK appends +OK, or the error.
func appendOK(out []byte, err error) []byte {
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendSimple(out, "OK")
}

func cmdAppend(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.Append(args[1], args[2])
	return appendCount(out, n, err)
}

// cmdGetRange is GETRANGE key start end, and its old name SUBSTR.
func cmdGetRange(c *conn, args [][]byte, out []byte) []byte {
	ns, ok := intArgs(args[2], args[3])
	if !ok {
		return resp.AppendError(out, errNotInt)
	}
	v, err := c.s.store.GetRange(args[1], ns[0], ns[1])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendBulk(out, v)
}

func cmdSetRange(c *conn, args [][]byte, out []byte) []byte {
	offset, ok := store.ParseInt(args[2])
	switch {
	case !ok:
		return resp.AppendError(out, errNotInt)
	case offset < 0:
		return resp.AppendError(out, "ERR offset is out of range")
	}
	n, err := c.s.store.SetRange(args[1], offset, args[3])
	return appendCount(out, n, err)
}

func cmdStrLen(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.StrLen(args[1])
	return appendCount(out, n, err)
}

func cmdMSetNX(c *conn, args [][]byte, out []byte) []byte {
	if len(args)%2 == 0 {
		return appendArityError(out, []byte("msetnx"))
	}
	ok, err := c.s.store.MSetNX(args[1:])
	return appendCount(out, boolInt(ok), err)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rename returns RENAME, or with nx RENAMENX: key newkey.
func rename(nx bool) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		moved, err := c.s.store.Rename(args[1], args[2], nx)
		if !nx || err != nil {
			return appendOK(out, err)
		}
		return resp.AppendInt(out, int64(boolInt(moved)))
	}
}

// cmdCopy is COPY source destination [DB 0] [REPLACE]. tiny-mp-cache
// serves database 0 only, so DB names no other.
func cmdCopy(c *conn, args [][]byte, out []byte) []byte {
	replace := false
	for i := 3; i < len(args); i++ {
		switch {
		case is(args[i], "REPLACE"):
			replace = true
		case is(args[i], "DB") && i+1 < len(args):
			db, ok := store.ParseInt(args[i+1])
			if !ok {
				return resp.AppendError(out, errNotInt)
			}
			if db != 0 {
				return resp.AppendError(out, errOtherDB)
			}
			i++
		default:
			return resp.AppendError(out, errSyntax)
		}
	}
	ok, err := c.s.store.Copy(args[1], args[2], replace)
	return appendCount(out, boolInt(ok), err)
}

const errOtherDB = "ERR DB index is out of range (tiny-mp-cache has only database 0)"

func cmdRandomKey(c *conn, args [][]byte, out []byte) []byte {
	k, ok := c.s.store.RandomKey()
	if !ok {
		return c.appendNull(out)
	}
	return resp.AppendBulkString(out, k)
}

// Lists.

func cmdLIndex(c *conn, args [][]byte, out []byte) []byte {
	i, ok := store.ParseInt(args[2])
	if !ok {
		return resp.AppendError(out, errNotInt)
	}
	v, ok, err := c.s.store.LIndex(args[1], i)
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

func cmdLSet(c *conn, args [][]byte, out []byte) []byte {
	i, ok := store.ParseInt(args[2])
	if !ok {
		return resp.AppendError(out, errNotInt)
	}
	return appendOK(out, c.s.store.LSet(args[1], i, args[3]))
}

// cmdLInsert is LINSERT key BEFORE|AFTER pivot element.
func cmdLInsert(c *conn, args [][]byte, out []byte) []byte {
	before := is(args[2], "BEFORE")
	if !before && !is(args[2], "AFTER") {
		return resp.AppendError(out, errSyntax)
	}
	n, err := c.s.store.LInsert(args[1], before, args[3], args[4])
	return appendCount(out, n, err)
}

func cmdLRem(c *conn, args [][]byte, out []byte) []byte {
	count, ok := store.ParseInt(args[2])
	if !ok {
		return resp.AppendError(out, errNotInt)
	}
	n, err := c.s.store.LRem(args[1], count, args[3])
	return appendCount(out, n, err)
}

func cmdLTrim(c *conn, args [][]byte, out []byte) []byte {
	ns, ok := intArgs(args[2], args[3])
	if !ok {
		return resp.AppendError(out, errNotInt)
	}
	return appendOK(out, c.s.store.LTrim(args[1], ns[0], ns[1]))
}

// cmdLPos is LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN
// len]: the index of the first match, or with COUNT an array of them.
func cmdLPos(c *conn, args [][]byte, out []byte) []byte {
	opt := store.LPosOptions{Rank: 1, Count: 1}
	withCount := false
	for i := 3; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return resp.AppendError(out, errSyntax)
		}
		n, ok := store.ParseInt(args[i+1])
		switch a := args[i]; {
		case !is(a, "RANK") && !is(a, "COUNT") && !is(a, "MAXLEN"):
			return resp.AppendError(out, errSyntax)
		case !ok:
			return resp.AppendError(out, errNotInt)
		case is(a, "RANK") && n == math.MinInt64:
			opt.Rank = -1 // as Redis 7.0, whose negated rank stays negative: the first match from the tail
		case is(a, "RANK") && n == 0:
			return resp.AppendError(out, "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
		case is(a, "RANK"):
			opt.Rank = n
		case n < 0 && is(a, "COUNT"):
			return resp.AppendError(out, "ERR COUNT can't be negative")
		case is(a, "COUNT"):
			opt.Count, withCount = n, true
		case n < 0:
			return resp.AppendError(out, "ERR MAXLEN can't be negative")
		default:
			opt.MaxLen = n
		}
	}
	at, err := c.s.store.LPos(args[1], args[2], opt)
	switch {
	case err != nil:
		return appendErr(out, err)
	case !withCount && len(at) == 0:
		return c.appendNull(out)
	case !withCount:
		return resp.AppendInt(out, int64(at[0]))
	}
	out = resp.AppendArray(out, len(at))
	for _, i := range at {
		out = resp.AppendInt(out, int64(i))
	}
	return out
}

// pushX returns LPUSHX (left) or RPUSHX: push only onto an existing list.
func pushX(left bool) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		n, err := c.s.store.PushX(args[1], args[2:], left)
		return appendCount(out, n, err)
	}
}

// cmdRPopLPush is RPOPLPUSH source destination: LMOVE source destination
// RIGHT LEFT.
func cmdRPopLPush(c *conn, args [][]byte, out []byte) []byte {
	return cmdLMove(c, [][]byte{args[0], args[1], args[2], []byte("RIGHT"), []byte("LEFT")}, out)
}

// cmdBRPopLPush is BRPOPLPUSH source destination timeout: BLMOVE source
// destination RIGHT LEFT timeout.
func cmdBRPopLPush(c *conn, args [][]byte, out []byte) []byte {
	out = cmdBLMove(c, [][]byte{args[0], args[1], args[2], []byte("RIGHT"), []byte("LEFT"), args[3]}, out)
	if c.block != nil {
		c.block.popPush = true
	}
	return out
}

// mpopArgs reads LMPOP's and BLMPOP's numkeys key [key ...] LEFT|RIGHT
// [COUNT count], from args[0], or ZMPOP's and BZMPOP's with MIN|MAX for
// LEFT|RIGHT; left is true for LEFT or MIN. It returns an error message
// if they are wrong.
func mpopArgs(args [][]byte, leftName, rightName string) (keys [][]byte, left bool, count int, msg string) {
	numkeys, ok := store.ParseInt(args[0])
	switch {
	case !ok || numkeys <= 0:
		return nil, false, 0, "ERR numkeys should be greater than 0"
	case numkeys > int64(len(args)-2):
		return nil, false, 0, errSyntax
	}
	keys, rest := args[1:1+numkeys], args[1+numkeys:]
	left = is(rest[0], leftName)
	if !left && !is(rest[0], rightName) {
		return nil, false, 0, errSyntax
	}
	n := int64(1)
	switch {
	case len(rest) == 3 && is(rest[1], "COUNT"):
		if n, ok = store.ParseInt(rest[2]); !ok || n <= 0 {
			return nil, false, 0, "ERR count should be greater than 0"
		}
	case len(rest) != 1:
		return nil, false, 0, errSyntax
	}
	return keys, left, int(min(n, 1<<30)), ""
}

// cmdLMPop is LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops
// up to count values from the first non-empty list, and replies with its
// key and the values.
func cmdLMPop(c *conn, args [][]byte, out []byte) []byte {
	keys, left, count, msg := mpopArgs(args[1:], "LEFT", "RIGHT")
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	for _, k := range keys {
		vals, err := c.s.store.Pop(k, left, count)
		if err != nil {
			return appendErr(out, err)
		}
		if len(vals) > 0 {
			return c.appendMPopped(out, &store.Popped{Key: string(k), Value: vals[0], Values: vals})
		}
	}
	return c.appendNullArray(out)
}

// cmdBLMPop is BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT
// count]: LMPOP that waits, as BLPOP does, for a value to arrive.
func cmdBLMPop(c *conn, args [][]byte, out []byte) []byte {
	timeout, msg := blockTimeout(args[1])
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	keys, left, count, msg := mpopArgs(args[2:], "LEFT", "RIGHT")
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	p, w, err := c.s.store.BMPop(keys, left, count, c.wake)
	switch {
	case err != nil:
		return appendErr(out, err)
	case w != nil:
		// The event loop replies when the wait ends.
		c.block = &blocked{w: w, timeout: timeout, mpop: true}
		return out
	}
	return c.appendMPopped(out, p)
}

// appendMPopped appends LMPOP's reply: the key and its values, or null.
func (c *conn) appendMPopped(out []byte, p *store.Popped) []byte {
	if p == nil {
		return c.appendNullArray(out)
	}
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, p.Key)
	out = resp.AppendArray(out, len(p.Values))
	for _, v := range p.Values {
		out = resp.AppendBulk(out, v)
	}
	return out
}
