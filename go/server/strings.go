package server

import (
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

func cmdGet(c *conn, args [][]byte, out []byte) []byte {
	v, ok, err := c.s.store.Get(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

// cmdSet is SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t |
// KEEPTTL]. With GET it replies with the old value, set or not.
func cmdSet(c *conn, args [][]byte, out []byte) []byte {
	var opt store.SetOptions
	get, expiry := false, false
	for i := 3; i < len(args); i++ {
		switch a := args[i]; {
		case is(a, "NX") && !opt.XX:
			opt.NX = true
		case is(a, "XX") && !opt.NX:
			opt.XX = true
		case is(a, "GET"):
			get = true
		case is(a, "KEEPTTL") && !expiry:
			opt.KeepTTL, expiry = true, true
		case isExpiry(a) && !expiry && i+1 < len(args):
			at, msg := c.expiryOption(a, args[i+1], "set")
			if msg != "" {
				return resp.AppendError(out, msg)
			}
			opt.At, expiry = at, true
			i++
		default:
			return resp.AppendError(out, errSyntax)
		}
	}
	if get {
		old, had, err := c.s.store.Swap(args[1], args[2], opt)
		if err != nil {
			return appendErr(out, err)
		}
		return c.appendValue(out, old, had)
	}
	opt.Take = c.rd.Owns(args[2]) // a big value read into memory of its own
	ok, err := c.s.store.Set(args[1], args[2], opt)
	switch {
	case err != nil:
		return appendErr(out, err)
	case !ok:
		return c.appendNull(out)
	}
	return resp.AppendSimple(out, "OK")
}

// isExpiry reports whether a is one of the options that set a deadline:
// EX, PX, EXAT or PXAT.
func isExpiry(a []byte) bool {
	return is(a, "EX") || is(a, "PX") || is(a, "EXAT") || is(a, "PXAT")
}

// setWithTTL returns SETEX (unit time.Second) or PSETEX (time.Millisecond):
// SETEX key ttl value.
func setWithTTL(unit time.Duration) func(c *conn, args [][]byte, out []byte) []byte {
	name := "setex"
	if unit == time.Millisecond {
		name = "psetex"
	}
	return func(c *conn, args [][]byte, out []byte) []byte {
		at, msg := c.deadline(args[2], unit, false, true, name)
		if msg != "" {
			return resp.AppendError(out, msg)
		}
		if _, err := c.s.store.Set(args[1], args[3], store.SetOptions{At: at}); err != nil {
			return appendErr(out, err)
		}
		return resp.AppendSimple(out, "OK")
	}
}

func cmdSetNX(c *conn, args [][]byte, out []byte) []byte {
	ok, err := c.s.store.Set(args[1], args[2], store.SetOptions{NX: true})
	switch {
	case err != nil:
		return appendErr(out, err)
	case ok:
		return resp.AppendInt(out, 1)
	}
	return resp.AppendInt(out, 0)
}

func cmdGetSet(c *conn, args [][]byte, out []byte) []byte {
	old, had, err := c.s.store.Swap(args[1], args[2], store.SetOptions{})
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, old, had)
}

// cmdGetEx is GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST].
func cmdGetEx(c *conn, args [][]byte, out []byte) []byte {
	var at time.Time
	persist := false
	switch {
	case len(args) == 2:
	case len(args) == 3 && is(args[2], "PERSIST"):
		persist = true
	case len(args) == 4 && isExpiry(args[2]):
		var msg string
		if at, msg = c.expiryOption(args[2], args[3], "getex"); msg != "" {
			return resp.AppendError(out, msg)
		}
	default:
		return resp.AppendError(out, errSyntax)
	}
	v, ok, err := c.s.store.GetEx(args[1], at, persist)
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

func cmdGetDel(c *conn, args [][]byte, out []byte) []byte {
	v, ok, err := c.s.store.GetDel(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

func cmdMGet(c *conn, args [][]byte, out []byte) []byte {
	vals := c.s.store.MGet(args[1:])
	out = resp.AppendArray(out, len(vals))
	for _, v := range vals {
		if c.overflowing(out) {
			break // never sent (see overflowing): stop before it costs more
		}
		out = c.appendValue(out, v, v != nil)
	}
	return out
}

func cmdMSet(c *conn, args [][]byte, out []byte) []byte {
	if len(args)%2 != 1 {
		return appendArityError(out, []byte("mset"))
	}
	if err := c.s.store.MSet(args[1:]); err != nil {
		return appendErr(out, err)
	}
	return resp.AppendSimple(out, "OK")
}

// incrBy returns INCR (sign 1) or DECR (sign -1): key, and INCRBY or
// DECRBY, whose arity gives them a third argument: key delta.
func incrBy(sign int64) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		delta := int64(1)
		if len(args) == 3 {
			var ok bool
			if delta, ok = store.ParseInt(args[2]); !ok {
				return resp.AppendError(out, errNotInt)
			}
		}
		if sign < 0 {
			if delta == minInt64 {
				return resp.AppendError(out, "ERR decrement would overflow")
			}
			delta = -delta
		}
		n, err := c.s.store.IncrBy(args[1], delta)
		if err != nil {
			return appendErr(out, err)
		}
		return resp.AppendInt(out, n)
	}
}

const minInt64 = -1 << 63

func cmdIncrByFloat(c *conn, args [][]byte, out []byte) []byte {
	v, err := c.s.store.IncrByFloat(args[1], args[2])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendBulk(out, v)
}
