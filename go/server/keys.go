package server

import (
	"strconv"
	"strings"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

func cmdDel(c *conn, args [][]byte, out []byte) []byte {
	var n int64
	for _, k := range args[1:] {
		if c.s.store.Del(k) {
			n++
		}
	}
	return resp.AppendInt(out, n)
}

func cmdExists(c *conn, args [][]byte, out []byte) []byte {
	var n int64
	for _, k := range args[1:] {
		if c.s.store.Exists(k) {
			n++
		}
	}
	return resp.AppendInt(out, n)
}

func cmdType(c *conn, args [][]byte, out []byte) []byte {
	return resp.AppendSimple(out, c.s.store.Type(args[1]))
}

func (c *conn) appendKeys(out []byte, keys []string) []byte {
	out = resp.AppendArray(out, len(keys))
	for _, k := range keys {
		if c.overflowing(out) {
			break // never sent (see overflowing): stop before it costs more
		}
		out = resp.AppendBulkString(out, k)
	}
	return out
}

func cmdKeys(c *conn, args [][]byte, out []byte) []byte {
	return c.appendKeys(out, c.s.store.Keys(string(args[1])))
}

// cmdScan is SCAN cursor [MATCH pattern] [COUNT n] [TYPE t].
func cmdScan(c *conn, args [][]byte, out []byte) []byte {
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		return resp.AppendError(out, "ERR invalid cursor")
	}
	pattern, count, typ := "*", 10, ""
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return resp.AppendError(out, errSyntax)
		}
		switch a, v := args[i], args[i+1]; {
		case is(a, "MATCH"):
			pattern = string(v)
		case is(a, "COUNT"):
			n, ok := store.ParseInt(v)
			if !ok || n < 1 {
				return resp.AppendError(out, errSyntax)
			}
			count = int(min(n, 1<<20))
		case is(a, "TYPE"):
			typ = strings.ToLower(string(v))
		default:
			return resp.AppendError(out, errSyntax)
		}
	}
	next, keys := c.s.store.Scan(cursor, pattern, count)
	if typ != "" {
		kept := keys[:0]
		for _, k := range keys {
			if c.s.store.Type([]byte(k)) == typ {
				kept = append(kept, k)
			}
		}
		keys = kept
	}
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, strconv.FormatUint(next, 10))
	return c.appendKeys(out, keys)
}

func cmdDBSize(c *conn, args [][]byte, out []byte) []byte {
	return resp.AppendInt(out, int64(c.s.store.Len()))
}

// cmdFlush is FLUSHDB and FLUSHALL, with or without ASYNC/SYNC.
func cmdFlush(c *conn, args [][]byte, out []byte) []byte {
	if len(args) > 2 || len(args) == 2 && !is(args[1], "ASYNC") && !is(args[1], "SYNC") {
		return resp.AppendError(out, errSyntax)
	}
	c.s.store.Flush()
	return resp.AppendSimple(out, "OK")
}
