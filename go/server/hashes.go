package server

import (
	"strconv"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// The hash commands: HSET and friends, on store's hashes.

// cmdHSet is HSET and HMSET key field value [field value ...]: HSET
// replies with how many fields are new, HMSET with OK.
func cmdHSet(c *conn, args [][]byte, out []byte) []byte {
	if len(args)%2 != 0 {
		return appendArityError(out, lowerName(args[0]))
	}
	n, err := c.s.store.HSet(args[1], args[2:], false)
	switch {
	case err != nil:
		return appendErr(out, err)
	case is(args[0], "HMSET"):
		return resp.AppendSimple(out, "OK")
	}
	return resp.AppendInt(out, int64(n))
}

func lowerName(name []byte) []byte {
	out := make([]byte, len(name))
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		out[i] = ch
	}
	return out
}

func cmdHSetNX(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.HSet(args[1], args[2:], true)
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

func cmdHGet(c *conn, args [][]byte, out []byte) []byte {
	v, ok, err := c.s.store.HGet(args[1], args[2])
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

func cmdHMGet(c *conn, args [][]byte, out []byte) []byte {
	vals, err := c.s.store.HMGet(args[1], args[2:])
	if err != nil {
		return appendErr(out, err)
	}
	out = resp.AppendArray(out, len(vals))
	for _, v := range vals {
		if c.overflowing(out) {
			break // never sent (see overflowing): stop before it costs more
		}
		out = c.appendValue(out, v, v != nil)
	}
	return out
}

// cmdHGetAll is HGETALL (a map of fields to values), HKEYS and HVALS.
func cmdHGetAll(c *conn, args [][]byte, out []byte) []byte {
	fields, err := c.s.store.HGetAll(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	keys, values := !is(args[0], "HVALS"), !is(args[0], "HKEYS")
	if keys && values {
		out = c.appendMap(out, len(fields))
	} else {
		out = resp.AppendArray(out, len(fields))
	}
	for _, f := range fields {
		if c.overflowing(out) {
			break
		}
		if keys {
			out = resp.AppendBulkString(out, f.Name)
		}
		if values {
			out = c.appendBulk(out, f.Value)
		}
	}
	return out
}

func cmdHDel(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.HDel(args[1], args[2:])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

// cmdHExists is HEXISTS (0 or 1) and HSTRLEN (the value's length, 0 if
// missing).
func cmdHExists(c *conn, args [][]byte, out []byte) []byte {
	v, ok, err := c.s.store.HGet(args[1], args[2])
	switch {
	case err != nil:
		return appendErr(out, err)
	case is(args[0], "HSTRLEN"):
		return resp.AppendInt(out, int64(len(v)))
	case ok:
		return resp.AppendInt(out, 1)
	}
	return resp.AppendInt(out, 0)
}

func cmdHLen(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.HLen(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

func cmdHIncrBy(c *conn, args [][]byte, out []byte) []byte {
	delta, ok := store.ParseInt(args[3])
	if !ok {
		return resp.AppendError(out, errNotInt)
	}
	n, err := c.s.store.HIncrBy(args[1], args[2], delta)
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, n)
}

func cmdHIncrByFloat(c *conn, args [][]byte, out []byte) []byte {
	v, err := c.s.store.HIncrByFloat(args[1], args[2], args[3])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendBulk(out, v)
}

const maxLong = 1<<63 - 1

// randomCount reads the count of HRANDFIELD and SRANDMEMBER: distinct
// members for a positive one, -count picks that may repeat for a negative
// one. perPick is how many replies the reply holds per pick, which bounds
// a negative count as Redis does. It returns an error reply instead if
// count is not valid. The picks are made as the reply grows, which stops
// past the output limit, closing the connection (see overflowing): a huge
// count costs that limit, not memory for every pick.
func randomCount(arg []byte, perPick int64) (count int, repeat bool, msg string) {
	n, ok := store.ParseInt(arg)
	switch {
	case !ok:
		return 0, false, errNotInt
	case n == minInt64:
		return 0, false, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
	case n < 0 && -n > maxLong/perPick:
		return 0, false, "ERR value is out of range"
	case n < 0:
		return int(min(-n, 1<<62)), true, ""
	}
	return int(min(n, 1<<62)), false, ""
}

// cmdHRandField is HRANDFIELD key [count [WITHVALUES]].
func cmdHRandField(c *conn, args [][]byte, out []byte) []byte {
	if len(args) == 2 {
		found := false
		err := c.s.store.HRandField(args[1], 1, false, func(_ int, f store.Field) bool {
			out, found = resp.AppendBulkString(out, f.Name), true
			return false
		})
		switch {
		case err != nil:
			return appendErr(out, err)
		case !found:
			return c.appendNull(out)
		}
		return out
	}
	withValues := len(args) == 4 && is(args[3], "WITHVALUES")
	if len(args) > 4 || len(args) == 4 && !withValues {
		return resp.AppendError(out, errSyntax)
	}
	perPick := int64(1)
	if withValues {
		perPick = 2
	}
	count, repeat, msg := randomCount(args[2], perPick)
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	pairs := withValues && c.resp3 // [field, value] pairs, as Redis 7 replies in RESP3
	started := false
	err := c.s.store.HRandField(args[1], count, repeat, func(total int, f store.Field) bool {
		if !started {
			if withValues && !pairs {
				total *= 2
			}
			out, started = resp.AppendArray(out, total), true
		}
		if pairs {
			out = resp.AppendArray(out, 2)
		}
		out = resp.AppendBulkString(out, f.Name)
		if withValues {
			out = c.appendBulk(out, f.Value)
		}
		return !c.overflowing(out)
	})
	switch {
	case err != nil:
		return appendErr(out, err)
	case !started:
		return resp.AppendArray(out, 0)
	}
	return out
}

// scanOptions reads the arguments of HSCAN and SSCAN: key cursor [MATCH
// pattern] [COUNT n], and for HSCAN (hash) [NOVALUES] (Redis 7.4). It
// returns an error reply instead if one is not valid, as Redis words them.
func scanOptions(args [][]byte, hash bool) (cursor uint64, pattern string, count int, noValues bool, msg string) {
	cursor, err := strconv.ParseUint(string(args[2]), 10, 64)
	if err != nil {
		return 0, "", 0, false, "ERR invalid cursor"
	}
	pattern, count = "*", 10
	for i := 3; i < len(args); i += 2 {
		if is(args[i], "NOVALUES") {
			if !hash {
				return 0, "", 0, false, "ERR NOVALUES option can only be used in HSCAN"
			}
			noValues = true
			i-- // a flag without a value
			continue
		}
		if i+1 >= len(args) {
			return 0, "", 0, false, errSyntax
		}
		switch a, v := args[i], args[i+1]; {
		case is(a, "MATCH"):
			pattern = string(v)
		case is(a, "COUNT"):
			n, ok := store.ParseInt(v)
			switch {
			case !ok:
				return 0, "", 0, false, errNotInt
			case n < 1:
				return 0, "", 0, false, errSyntax
			}
			count = int(min(n, 1<<20))
		default:
			return 0, "", 0, false, errSyntax
		}
	}
	return cursor, pattern, count, noValues, ""
}

// cmdHScan is HSCAN key cursor [MATCH pattern] [COUNT n] [NOVALUES]: the
// next cursor, then fields and values in one flat array (only fields with
// NOVALUES).
func cmdHScan(c *conn, args [][]byte, out []byte) []byte {
	cursor, pattern, count, noValues, msg := scanOptions(args, true)
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	next, fields, err := c.s.store.HScan(args[1], cursor, pattern, count)
	if err != nil {
		return appendErr(out, err)
	}
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, strconv.FormatUint(next, 10))
	if noValues {
		out = resp.AppendArray(out, len(fields))
	} else {
		out = resp.AppendArray(out, 2*len(fields))
	}
	for _, f := range fields {
		if c.overflowing(out) {
			break
		}
		out = resp.AppendBulkString(out, f.Name)
		if !noValues {
			out = c.appendBulk(out, f.Value)
		}
	}
	return out
}
