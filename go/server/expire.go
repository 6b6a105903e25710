package server

import (
	"math"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// expiryOption reads the deadline given by an EX, PX, EXAT or PXAT option
// of command name; it must be positive. It returns an error reply instead
// if the number is not valid.
func (c *conn) expiryOption(option, n []byte, name string) (time.Time, string) {
	unit := time.Second
	if option[0] == 'p' || option[0] == 'P' {
		unit = time.Millisecond
	}
	return c.deadline(n, unit, len(option) == 4, true, name)
}

// deadline converts n units, counted from now or (if absolute) from the
// Unix epoch, to a time on the store's clock. Unless positive, n may be 0
// or negative: a time already past. It returns an error reply instead if n
// is not an integer, or if the deadline in Unix milliseconds would not fit
// in an int64, the range Redis accepts (a huge PEXPIREAT is stored, a huge
// negative EXPIREAT deletes the key).
func (c *conn) deadline(n []byte, unit time.Duration, absolute, positive bool, name string) (time.Time, string) {
	v, ok := store.ParseInt(n)
	if !ok {
		return time.Time{}, errNotInt
	}
	perUnit := int64(unit / time.Millisecond)
	var now time.Time
	var base int64 // Unix milliseconds that v counts from
	if !absolute {
		now = c.s.store.Now()
		base = now.UnixMilli()
	}
	if v > math.MaxInt64/perUnit || v < math.MinInt64/perUnit || positive && v <= 0 ||
		v*perUnit > math.MaxInt64-base {
		return time.Time{}, "ERR invalid expire time in '" + name + "' command"
	}
	ms := v * perUnit
	if !absolute && ms <= maxTTLMillis && ms >= -maxTTLMillis {
		return now.Add(time.Duration(ms) * time.Millisecond), "" // to the nanosecond
	}
	return time.UnixMilli(base + ms), ""
}

// maxTTLMillis is the longest relative TTL added to the clock as a
// time.Duration, in milliseconds; a longer one is counted in whole
// milliseconds, as Redis counts them all.
const maxTTLMillis = int64(maxTTL / time.Millisecond)

// maxTTL keeps deadlines far from overflowing int64 nanoseconds.
const maxTTL = 100 * 365 * 24 * time.Hour

// expireCommand returns EXPIRE, PEXPIRE, EXPIREAT or PEXPIREAT: key n
// [NX | XX | GT | LT], n units from now or (absolute) from the epoch.
func expireCommand(unit time.Duration, absolute bool) func(c *conn, args [][]byte, out []byte) []byte {
	name := "expire"
	if absolute {
		name = "expireat"
	}
	if unit == time.Millisecond {
		name = "p" + name
	}
	return func(c *conn, args [][]byte, out []byte) []byte {
		var cond store.ExpireCond
		for _, a := range args[3:] {
			switch {
			case is(a, "NX"):
				cond |= store.IfNoTTL
			case is(a, "XX"):
				cond |= store.IfTTL
			case is(a, "GT"):
				cond |= store.IfLater
			case is(a, "LT"):
				cond |= store.IfSooner
			default:
				return resp.AppendError(out, "ERR Unsupported option "+printable(a))
			}
		}
		switch {
		case cond&store.IfNoTTL != 0 && cond != store.IfNoTTL:
			return resp.AppendError(out, "ERR NX and XX, GT or LT options at the same time are not compatible")
		case cond&store.IfLater != 0 && cond&store.IfSooner != 0:
			return resp.AppendError(out, "ERR GT and LT options at the same time are not compatible")
		}
		at, msg := c.deadline(args[2], unit, absolute, false, name)
		if msg != "" {
			return resp.AppendError(out, msg)
		}
		if c.s.store.ExpireAt(args[1], at, cond) {
			return resp.AppendInt(out, 1)
		}
		return resp.AppendInt(out, 0)
	}
}

// ttlIn returns TTL (unit time.Second) or PTTL (time.Millisecond): the time
// left in units, rounded, -2 for a missing key and -1 for a key without a
// deadline.
func ttlIn(unit time.Duration) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		at, exists, forever := c.s.store.ExpireTime(args[1])
		switch {
		case !exists:
			return resp.AppendInt(out, -2)
		case forever:
			return resp.AppendInt(out, -1)
		}
		left := max(at-c.s.store.Now().UnixMilli(), 0) // in milliseconds, as Redis counts: a TTL may outlast time.Duration
		if unit == time.Second {
			left = (left + 500) / 1000
		}
		return resp.AppendInt(out, left)
	}
}

// expireTimeCommand is EXPIRETIME (Unix seconds, rounded, as Redis does)
// and PEXPIRETIME (Unix milliseconds, the deadline as the store keeps it:
// never past the true one, which the near cache relies on), or -2 for a missing key and -1
// for a key without a deadline.
func expireTimeCommand(unit time.Duration) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		at, exists, forever := c.s.store.ExpireTime(args[1])
		switch {
		case !exists:
			return resp.AppendInt(out, -2)
		case forever:
			return resp.AppendInt(out, -1)
		}
		if unit == time.Second {
			return resp.AppendInt(out, (at+500)/1000)
		}
		return resp.AppendInt(out, at)
	}
}

func cmdPersist(c *conn, args [][]byte, out []byte) []byte {
	if c.s.store.Persist(args[1]) {
		return resp.AppendInt(out, 1)
	}
	return resp.AppendInt(out, 0)
}
