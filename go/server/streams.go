package server

import (
	"math"
	"strconv"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// Streams: the handlers of XADD, XRANGE, XREVRANGE, XLEN, XDEL and XTRIM,
// with Redis 7.0's argument parsing, errors and their order. The entries
// are in store/stream.go.

const errStreamID = "ERR Invalid stream ID specified as stream command argument"

// parseStreamU64 parses one half of an ID as Redis's string2ull does: a
// non-negative integer, or else whatever C's strtoull takes whole (leading
// space, a sign, "-n" wrapping around) without overflowing.
func parseStreamU64(s string) (uint64, bool) {
	if n, ok := store.ParseInt([]byte(s)); ok {
		return uint64(n), n >= 0
	}
	t := s
	for len(t) > 0 && isCSpace(t[0]) {
		t = t[1:]
	}
	neg := false
	if len(t) > 0 && (t[0] == '+' || t[0] == '-') {
		neg, t = t[0] == '-', t[1:]
	}
	if t == "" || t[0] < '0' || t[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseStreamID parses an ID as Redis's streamGenericParseIDOrReply does:
// "ms-seq", or "ms" with seq missingSeq; "-" and "+" unless strict; and,
// if autoSeq, "ms-*", for which seqGiven is false.
func parseStreamID(arg []byte, missingSeq uint64, strict, autoSeq bool) (id store.StreamID, seqGiven, ok bool) {
	s := string(arg)
	switch {
	case len(s) > 127:
		return id, false, false
	case s == "-" && !strict:
		return id, true, true
	case s == "+" && !strict:
		return store.MaxStreamID, true, true
	}
	ms, seq, dash := s, "", false
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			ms, seq, dash = s[:i], s[i+1:], true
			break
		}
	}
	if id.Ms, ok = parseStreamU64(ms); !ok {
		return id, false, false
	}
	switch {
	case !dash:
		id.Seq = missingSeq
	case autoSeq && seq == "*":
		return id, false, true
	default:
		if id.Seq, ok = parseStreamU64(seq); !ok {
			return id, false, false
		}
	}
	return id, true, true
}

func appendStreamID(out []byte, id store.StreamID) []byte {
	var buf [48]byte
	b := strconv.AppendUint(buf[:0], id.Ms, 10)
	b = append(b, '-')
	return resp.AppendBulk(out, strconv.AppendUint(b, id.Seq, 10))
}

// appendEntries appends entries, each an ID and its fields and values, as
// an array in either protocol.
func (c *conn) appendEntries(out []byte, entries []store.StreamEntry) []byte {
	out = resp.AppendArray(out, len(entries))
	for _, e := range entries {
		if c.overflowing(out) {
			break // never sent (see overflowing): stop before it costs more
		}
		out = resp.AppendArray(out, 2)
		out = appendStreamID(out, e.ID)
		out = resp.AppendArray(out, len(e.Fields))
		for _, f := range e.Fields {
			out = resp.AppendBulk(out, f)
		}
	}
	return out
}

// parseTrim parses XADD's (xadd) or XTRIM's options from args[i:], as
// Redis's streamParseAddOrTrimArgsOrReply: the trimming, and for XADD
// NOMKSTREAM and the ID, where the options end. It returns the index of
// the ID (XADD) or len(args), or an error message.
func parseTrim(args [][]byte, i int, xadd bool, opt *store.XAddOptions) (int, string) {
	t := &opt.Trim
	limitGiven := false
	for ; i < len(args); i++ {
		more := len(args) - 1 - i
		a := args[i]
		switch {
		case xadd && string(a) == "*":
			goto done
		case (is(a, "MAXLEN") || is(a, "MINID")) && more > 0:
			if t.Strategy != store.TrimNone {
				return 0, "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
			}
			t.Approx = false
			if next := string(args[i+1]); more >= 2 && (next == "~" || next == "=") {
				t.Approx = next == "~"
				i++
			}
			i++
			if is(a, "MAXLEN") {
				n, ok := store.ParseInt(args[i])
				switch {
				case !ok:
					return 0, errNotInt
				case n < 0:
					return 0, "ERR The MAXLEN argument must be >= 0."
				}
				t.Strategy, t.MaxLen = store.TrimMaxLen, n
			} else {
				id, _, ok := parseStreamID(args[i], 0, true, false)
				if !ok {
					return 0, errStreamID
				}
				t.Strategy, t.MinID = store.TrimMinID, id
			}
		case is(a, "LIMIT") && more > 0:
			n, ok := store.ParseInt(args[i+1])
			switch {
			case !ok:
				return 0, errNotInt
			case n < 0:
				return 0, "ERR The LIMIT argument must be >= 0."
			}
			t.Limit, limitGiven = n, true
			i++
		case xadd && is(a, "NOMKSTREAM"):
			opt.NoMkStream = true
		case xadd:
			id, seqGiven, ok := parseStreamID(a, 0, true, true)
			if !ok {
				return 0, errStreamID
			}
			opt.ID, opt.IDGiven, opt.SeqGiven = id, true, seqGiven
			goto done
		default:
			return 0, errSyntax
		}
	}
done:
	switch {
	case t.Limit != 0 && t.Strategy == store.TrimNone:
		return 0, "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
	case !xadd && t.Strategy == store.TrimNone:
		return 0, "ERR syntax error, XTRIM must be called with a trimming strategy"
	case limitGiven && !t.Approx:
		return 0, "ERR syntax error, LIMIT cannot be used without the special ~ option"
	case !limitGiven && t.Approx:
		t.Limit = 10000 // Redis's default for "~": 100 times stream-node-max-entries
	case !limitGiven:
		t.Limit = 0
	}
	return i, ""
}

// cmdXAdd is XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT
// count]] *|id field value [field value ...].
func cmdXAdd(c *conn, args [][]byte, out []byte) []byte {
	var opt store.XAddOptions
	idAt, msg := parseTrim(args, 2, true, &opt)
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	fields := args[min(idAt+1, len(args)):]
	if len(fields) < 2 || len(fields)%2 != 0 {
		return appendArityError(out, []byte("xadd"))
	}
	id, ok, err := c.s.store.XAdd(args[1], fields, opt)
	switch {
	case err != nil:
		return appendErr(out, err)
	case !ok:
		return c.appendNull(out)
	}
	return appendStreamID(out, id)
}

// cmdXTrim is XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]. As in
// Redis, a missing key answers 0 whatever the options.
func cmdXTrim(c *conn, args [][]byte, out []byte) []byte {
	if _, exists, err := c.s.store.XLen(args[1]); err != nil || !exists {
		return c.streamMissing(out, err)
	}
	var opt store.XAddOptions
	if _, msg := parseTrim(args, 2, false, &opt); msg != "" {
		return resp.AppendError(out, msg)
	}
	n, err := c.s.store.XTrim(args[1], opt.Trim)
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

// streamMissing is the reply of XTRIM and XDEL for a key that is not a
// stream: WRONGTYPE, or 0 if there is no key.
func (c *conn) streamMissing(out []byte, err error) []byte {
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, 0)
}

// cmdXDel is XDEL key id [id ...]. As in Redis, a missing key answers 0
// whatever the IDs; otherwise all are checked before any is deleted.
func cmdXDel(c *conn, args [][]byte, out []byte) []byte {
	if _, exists, err := c.s.store.XLen(args[1]); err != nil || !exists {
		return c.streamMissing(out, err)
	}
	ids := make([]store.StreamID, len(args)-2)
	for i, a := range args[2:] {
		id, _, ok := parseStreamID(a, 0, true, false)
		if !ok {
			return resp.AppendError(out, errStreamID)
		}
		ids[i] = id
	}
	n, err := c.s.store.XDel(args[1], ids)
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

// cmdXLen is XLEN key.
func cmdXLen(c *conn, args [][]byte, out []byte) []byte {
	n, _, err := c.s.store.XLen(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

// cmdXRange is XRANGE key start end [COUNT count], and XREVRANGE key end
// start [COUNT count]; "(" before an ID excludes it.
func cmdXRange(c *conn, args [][]byte, out []byte) []byte {
	rev := is(args[0], "XREVRANGE")
	startArg, endArg := args[2], args[3]
	if rev {
		startArg, endArg = endArg, startArg
	}
	start, ok := parseIntervalID(startArg, 0)
	if !ok {
		return resp.AppendError(out, errStreamID)
	}
	if len(startArg) > 1 && startArg[0] == '(' {
		if start, ok = start.Next(); !ok {
			return resp.AppendError(out, "ERR invalid start ID for the interval")
		}
	}
	end, ok := parseIntervalID(endArg, math.MaxUint64)
	if !ok {
		return resp.AppendError(out, errStreamID)
	}
	if len(endArg) > 1 && endArg[0] == '(' {
		if end, ok = end.Prev(); !ok {
			return resp.AppendError(out, "ERR invalid end ID for the interval")
		}
	}
	count := int64(-1)
	for i := 4; i < len(args); i++ {
		if !is(args[i], "COUNT") || i+1 == len(args) {
			return resp.AppendError(out, errSyntax)
		}
		n, ok := store.ParseInt(args[i+1])
		if !ok {
			return resp.AppendError(out, errNotInt)
		}
		count = max(n, 0)
		i++
	}
	if count == 0 { // a null array, if the stream is there
		_, exists, err := c.s.store.XLen(args[1])
		switch {
		case err != nil:
			return appendErr(out, err)
		case exists:
			return c.appendNullArray(out)
		}
	}
	entries, err := c.s.store.XRange(args[1], start, end, clampInt(count), rev)
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendEntries(out, entries)
}

// parseIntervalID parses one end of XRANGE's interval: an ID, "-", "+",
// or "(" and an ID (not "-" or "+").
func parseIntervalID(arg []byte, missingSeq uint64) (store.StreamID, bool) {
	if len(arg) > 1 && arg[0] == '(' {
		id, _, ok := parseStreamID(arg[1:], missingSeq, true, false)
		return id, ok
	}
	id, _, ok := parseStreamID(arg, missingSeq, false, false)
	return id, ok
}

// cmdXRead is XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key
// ...] id [id ...]: the entries above each ID ("$": the stream's last), or
// with BLOCK, if there are none, the first added to any of the streams.
func cmdXRead(c *conn, args [][]byte, out []byte) []byte {
	count, block, timeout, at := int64(0), false, time.Duration(0), 0
	for i := 1; i < len(args) && at == 0; i++ {
		more := len(args) - i - 1
		switch a := args[i]; {
		case is(a, "BLOCK") && more > 0:
			i++
			ms, ok := store.ParseInt(args[i])
			switch {
			case !ok:
				return resp.AppendError(out, "ERR timeout is not an integer or out of range")
			case ms < 0:
				return resp.AppendError(out, errNegative)
			}
			block, timeout = true, time.Duration(min(ms, int64(maxTTL/time.Millisecond)))*time.Millisecond
		case is(a, "COUNT") && more > 0:
			i++
			n, ok := store.ParseInt(args[i])
			if !ok {
				return resp.AppendError(out, errNotInt)
			}
			count = max(n, 0)
		case is(a, "STREAMS") && more > 0:
			at = i + 1
		case is(a, "GROUP") && more >= 2:
			return resp.AppendError(out, "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
		default:
			return resp.AppendError(out, errSyntax)
		}
	}
	if at == 0 {
		return resp.AppendError(out, errSyntax)
	}
	rest := args[at:]
	if len(rest)%2 != 0 {
		return resp.AppendError(out, "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
	}
	keys, idArgs := rest[:len(rest)/2], rest[len(rest)/2:]
	last, err := c.s.store.XLastIDs(keys)
	if err != nil {
		return appendErr(out, err)
	}
	ids := make([]store.StreamID, len(keys))
	for i, a := range idArgs {
		switch {
		case string(a) == "$":
			ids[i] = last[i]
		case string(a) == ">":
			return resp.AppendError(out, "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
		default:
			id, _, ok := parseStreamID(a, 0, true, false)
			if !ok {
				return resp.AppendError(out, errStreamID)
			}
			ids[i] = id
		}
	}
	got, w, err := c.s.store.XRead(keys, ids, clampInt(count), block, c.wake)
	switch {
	case err != nil:
		return appendErr(out, err)
	case w != nil:
		// The event loop replies when the wait ends.
		c.block = &blocked{w: w, timeout: timeout, stream: true}
		return out
	case len(got) == 0:
		return c.appendNullArray(out)
	}
	return c.appendXRead(out, got)
}

// appendXRead appends XREAD's reply: each stream's key and entries, in
// RESP2 as pairs in an array, in RESP3 as a map.
func (c *conn) appendXRead(out []byte, got []store.XReadResult) []byte {
	if c.resp3 {
		out = c.appendMap(out, len(got))
	} else {
		out = resp.AppendArray(out, len(got))
	}
	for _, r := range got {
		if !c.resp3 {
			out = resp.AppendArray(out, 2)
		}
		out = resp.AppendBulkString(out, r.Key)
		out = c.appendEntries(out, r.Entries)
	}
	return out
}

// appendXReadWait appends the reply of a blocked XREAD: the stream that
// served it, or a null array at the timeout.
func (c *conn) appendXReadWait(out []byte, p *store.Popped) []byte {
	if p == nil {
		return c.appendNullArray(out)
	}
	return c.appendXRead(out, []store.XReadResult{{Key: p.Key, Entries: p.Entries}})
}
