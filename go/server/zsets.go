package server

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// Sorted sets: the handlers of the Z commands and BZPOPMIN/BZPOPMAX. The
// data structure and its operations are in store/zset.go; here are the
// arguments and replies, as Redis 7.0 parses and writes them.

const (
	errNotFloat    = "ERR value is not a valid float"
	errMinMaxFloat = "ERR min or max is not a float"
	errMinMaxLex   = "ERR min or max not valid string range item"
	errPositive    = "ERR value is out of range, must be positive"
)

// parseScore parses a score as Redis does (strtod, whole argument): a
// decimal or hexadecimal float or inf, but no leading space, no NaN, and
// nothing that overflows or underflows to zero.
func parseScore(arg []byte) (float64, bool) {
	s := string(arg)
	if s == "" || isCSpace(s[0]) || strings.ContainsRune(s, '_') {
		return 0, false
	}
	f, err := strconv.ParseFloat(hexExponent(s), 64)
	if errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0) {
		return 0, false
	}
	if err != nil || math.IsNaN(f) || f == 0 && nonzeroMantissa(s) {
		return 0, false
	}
	return f, true
}

// hexExponent gives a hexadecimal float without an exponent ("0x10"),
// which C reads and Go does not, the exponent p0.
func hexExponent(s string) string {
	t := strings.TrimLeft(s, "+-")
	if len(t) > 2 && t[0] == '0' && t[1]|0x20 == 'x' && !strings.ContainsAny(t, "pP") {
		return s + "p0"
	}
	return s
}

func isCSpace(ch byte) bool { return ch == ' ' || '\t' <= ch && ch <= '\r' }

// parseScoreBound parses one end of a score range: a float, "(" first for
// an exclusive end. As Redis's strtod does, it skips leading space, takes
// an empty string for 0 and out-of-range numbers for infinities.
func parseScoreBound(arg []byte) (store.ScoreBound, bool) {
	var b store.ScoreBound
	s := string(arg)
	if strings.HasPrefix(s, "(") {
		b.Excl, s = true, s[1:]
	}
	if s == "" {
		return b, true
	}
	t := strings.TrimLeftFunc(s, func(r rune) bool { return r < 0x80 && isCSpace(byte(r)) })
	if t == "" || strings.ContainsRune(t, '_') {
		return b, false
	}
	f, err := strconv.ParseFloat(hexExponent(t), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) {
		return b, false
	}
	b.Value = f
	return b, true
}

// parseLexBound parses one end of a member range: "-", "+", or "[" or "("
// (exclusive) before a member.
func parseLexBound(arg []byte) (store.LexBound, bool) {
	switch {
	case len(arg) == 1 && arg[0] == '-':
		return store.LexBound{Inf: -1}, true
	case len(arg) == 1 && arg[0] == '+':
		return store.LexBound{Inf: 1}, true
	case len(arg) > 0 && (arg[0] == '[' || arg[0] == '('):
		return store.LexBound{Value: string(arg[1:]), Excl: arg[0] == '('}, true
	}
	return store.LexBound{}, false
}

// parseRange fills r's bounds from min and max for its kind, or returns
// the error message.
func parseRange(r *store.ZRange, min, max []byte) string {
	var ok1, ok2 bool
	switch r.By {
	case store.ByRank:
		start, okStart := store.ParseInt(min)
		stop, okStop := store.ParseInt(max)
		if !okStart || !okStop {
			return errNotInt
		}
		r.Start, r.Stop = clampInt(start), clampInt(stop)
		return ""
	case store.ByScore:
		r.Min, ok1 = parseScoreBound(min)
		r.Max, ok2 = parseScoreBound(max)
		if !ok1 || !ok2 {
			return errMinMaxFloat
		}
	case store.ByLex:
		r.LexMin, ok1 = parseLexBound(min)
		r.LexMax, ok2 = parseLexBound(max)
		if !ok1 || !ok2 {
			return errMinMaxLex
		}
	}
	return ""
}

// clampInt keeps an index in int's range (on 32-bit platforms too).
func clampInt(n int64) int { return int(max(min(n, math.MaxInt), math.MinInt)) }

// appendScore appends a score: a RESP3 double, or in RESP2 a bulk string.
func (c *conn) appendScore(out []byte, f float64) []byte {
	if c.resp3 {
		return resp.AppendDouble(out, f)
	}
	return appendScoreText(out, f)
}

// appendScoreText appends a score as a bulk string, in either protocol.
func appendScoreText(out []byte, f float64) []byte {
	var buf [32]byte
	return resp.AppendBulk(out, resp.AppendFloatText(buf[:0], f))
}

// appendMembers appends members, with their scores if withScores: in
// RESP2 a flat array of member, score, ...; in RESP3 an array of pairs.
func (c *conn) appendMembers(out []byte, ms []store.ZMember, withScores bool) []byte {
	if !withScores {
		out = resp.AppendArray(out, len(ms))
	} else if c.resp3 {
		out = resp.AppendArray(out, len(ms))
	} else {
		out = resp.AppendArray(out, 2*len(ms))
	}
	for _, m := range ms {
		if c.overflowing(out) {
			break // never sent (see overflowing): stop before it costs more
		}
		if withScores && c.resp3 {
			out = resp.AppendArray(out, 2)
		}
		out = resp.AppendBulkString(out, m.Member)
		if withScores {
			out = c.appendScore(out, m.Score)
		}
	}
	return out
}

// cmdZAdd is ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...].
func cmdZAdd(c *conn, args [][]byte, out []byte) []byte {
	var opt store.ZAddOptions
	ch, i := false, 2
	for ; i < len(args); i++ {
		switch a := args[i]; {
		case is(a, "NX"):
			opt.NX = true
		case is(a, "XX"):
			opt.XX = true
		case is(a, "CH"):
			ch = true
		case is(a, "INCR"):
			opt.Incr = true
		case is(a, "GT"):
			opt.GT = true
		case is(a, "LT"):
			opt.LT = true
		default:
			goto pairs
		}
	}
pairs:
	rest := args[i:]
	switch {
	case len(rest) == 0 || len(rest)%2 != 0:
		return resp.AppendError(out, errSyntax)
	case opt.NX && opt.XX:
		return resp.AppendError(out, "ERR XX and NX options at the same time are not compatible")
	case opt.GT && opt.NX || opt.LT && opt.NX || opt.GT && opt.LT:
		return resp.AppendError(out, "ERR GT, LT, and/or NX options at the same time are not compatible")
	case opt.Incr && len(rest) > 2:
		return resp.AppendError(out, "ERR INCR option supports a single increment-element pair")
	}
	members := make([]store.ZMember, 0, len(rest)/2)
	for j := 0; j < len(rest); j += 2 {
		score, ok := parseScore(rest[j])
		if !ok {
			return resp.AppendError(out, errNotFloat)
		}
		members = append(members, store.ZMember{Member: string(rest[j+1]), Score: score})
	}
	return c.zadd(out, args[1], members, opt, ch)
}

// zadd runs ZADD or ZINCRBY and appends its reply.
func (c *conn) zadd(out, key []byte, members []store.ZMember, opt store.ZAddOptions, ch bool) []byte {
	added, updated, score, ok, err := c.s.store.ZAdd(key, members, opt)
	switch {
	case err != nil:
		return appendErr(out, err)
	case opt.Incr && !ok:
		return c.appendNull(out)
	case opt.Incr:
		return c.appendScore(out, score)
	case ch:
		return resp.AppendInt(out, int64(added+updated))
	}
	return resp.AppendInt(out, int64(added))
}

// cmdZIncrBy is ZINCRBY key increment member.
func cmdZIncrBy(c *conn, args [][]byte, out []byte) []byte {
	incr, ok := parseScore(args[2])
	if !ok {
		return resp.AppendError(out, errNotFloat)
	}
	m := []store.ZMember{{Member: string(args[3]), Score: incr}}
	return c.zadd(out, args[1], m, store.ZAddOptions{Incr: true}, false)
}

// cmdZScore is ZSCORE key member.
func cmdZScore(c *conn, args [][]byte, out []byte) []byte {
	scores, ok, err := c.s.store.ZScores(args[1], args[2:])
	switch {
	case err != nil:
		return appendErr(out, err)
	case !ok[0]:
		return c.appendNull(out)
	}
	return c.appendScore(out, scores[0])
}

// cmdZMScore is ZMSCORE key member [member ...].
func cmdZMScore(c *conn, args [][]byte, out []byte) []byte {
	scores, ok, err := c.s.store.ZScores(args[1], args[2:])
	if err != nil {
		return appendErr(out, err)
	}
	out = resp.AppendArray(out, len(scores))
	for i, f := range scores {
		if ok[i] {
			out = c.appendScore(out, f)
		} else {
			out = c.appendNull(out)
		}
	}
	return out
}

// cmdZCard is ZCARD key.
func cmdZCard(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.ZCard(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

// zcountCommand returns ZCOUNT (by score) or ZLEXCOUNT: key min max.
func zcountCommand(by int) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		r := store.ZRange{By: by, Count: store.All}
		if msg := parseRange(&r, args[2], args[3]); msg != "" {
			return resp.AppendError(out, msg)
		}
		n, err := c.s.store.ZCount(args[1], r)
		if err != nil {
			return appendErr(out, err)
		}
		return resp.AppendInt(out, int64(n))
	}
}

// Range kinds and directions of zrangeCommand: chosen by the arguments
// (BYSCORE, BYLEX, REV), or fixed by the command's name.
const (
	byArgs  = -1
	forward = 0
	reverse = 1
)

// zrangeCommand returns ZRANGE, ZRANGESTORE (store) or one of ZRANGE's
// older forms, which fix by and rev: key min max followed by BYSCORE,
// BYLEX, REV (where not fixed), LIMIT offset count and WITHSCORES, parsed
// as Redis's zrangeGenericCommand does, quirks included (an explicit LIMIT
// of count -1 is no LIMIT; a second REV or BY... is a syntax error).
func zrangeCommand(by, rev int, storing bool) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		first := 1
		if storing {
			first = 2
		}
		r := store.ZRange{By: store.ByRank, Count: store.All}
		withScores, reversed, kind := false, rev == reverse, by
		for i := first + 3; i < len(args); i++ {
			switch a := args[i]; {
			case !storing && is(a, "WITHSCORES"):
				withScores = true
			case is(a, "LIMIT") && i+2 < len(args):
				offset, ok1 := store.ParseInt(args[i+1])
				count, ok2 := store.ParseInt(args[i+2])
				if !ok1 || !ok2 {
					return resp.AppendError(out, errNotInt)
				}
				r.Offset, r.Count = clampInt(offset), clampInt(count)
				i += 2
			case rev == byArgs && !reversed && is(a, "REV"): // once only
				reversed = true
			case kind == byArgs && is(a, "BYLEX"):
				kind = store.ByLex
			case kind == byArgs && is(a, "BYSCORE"):
				kind = store.ByScore
			default:
				return resp.AppendError(out, errSyntax)
			}
		}
		if kind == byArgs {
			kind = store.ByRank
		}
		r.By, r.Rev = kind, reversed
		switch {
		case r.Count != store.All && kind == store.ByRank:
			return resp.AppendError(out, "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
		case withScores && kind == store.ByLex:
			return resp.AppendError(out, "ERR syntax error, WITHSCORES not supported in combination with BYLEX")
		}
		min, max := args[first+1], args[first+2]
		if reversed && kind != store.ByRank {
			min, max = max, min // given as max min
		}
		if msg := parseRange(&r, min, max); msg != "" {
			return resp.AppendError(out, msg)
		}
		if storing {
			n, err := c.s.store.ZRangeStore(args[1], args[2], r)
			if err != nil {
				return appendErr(out, err)
			}
			return resp.AppendInt(out, int64(n))
		}
		ms, err := c.s.store.ZRange(args[1], r)
		if err != nil {
			return appendErr(out, err)
		}
		return c.appendMembers(out, ms, withScores)
	}
}

// cmdZRank is ZRANK and ZREVRANK key member [WITHSCORE] (Redis 7.2): the
// rank, or with WITHSCORE the rank and the score.
func cmdZRank(c *conn, args [][]byte, out []byte) []byte {
	withScore := len(args) == 4 && is(args[3], "WITHSCORE")
	switch {
	case len(args) > 4:
		return appendArityError(out, []byte(strings.ToLower(string(args[0]))))
	case len(args) == 4 && !withScore:
		return resp.AppendError(out, errSyntax)
	}
	rank, score, ok, err := c.s.store.ZRank(args[1], args[2], is(args[0], "ZREVRANK"))
	switch {
	case err != nil:
		return appendErr(out, err)
	case !ok && withScore:
		return c.appendNullArray(out)
	case !ok:
		return c.appendNull(out)
	case withScore:
		return c.appendScore(resp.AppendInt(resp.AppendArray(out, 2), int64(rank)), score)
	}
	return resp.AppendInt(out, int64(rank))
}

// cmdZRem is ZREM key member [member ...].
func cmdZRem(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.ZRem(args[1], args[2:])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

// zremRangeCommand returns ZREMRANGEBYRANK, ZREMRANGEBYSCORE or
// ZREMRANGEBYLEX: key min max.
func zremRangeCommand(by int) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		r := store.ZRange{By: by, Count: store.All}
		if msg := parseRange(&r, args[2], args[3]); msg != "" {
			return resp.AppendError(out, msg)
		}
		n, err := c.s.store.ZRemRange(args[1], r)
		if err != nil {
			return appendErr(out, err)
		}
		return resp.AppendInt(out, int64(n))
	}
}

// cmdZPop is ZPOPMIN and ZPOPMAX key [count]. Without a count the reply
// is one member and its score; with one, in RESP3, an array of pairs.
func cmdZPop(c *conn, args [][]byte, out []byte) []byte {
	count := int64(1)
	switch {
	case len(args) > 3:
		return resp.AppendError(out, errSyntax)
	case len(args) == 3:
		var ok bool
		if count, ok = store.ParseInt(args[2]); !ok || count < 0 {
			return resp.AppendError(out, errPositive) // for both, as in Redis
		}
	}
	ms, err := c.s.store.ZPop(args[1], is(args[0], "ZPOPMAX"), clampInt(count))
	if err != nil {
		return appendErr(out, err)
	}
	if len(args) == 3 {
		return c.appendMembers(out, ms, true)
	}
	out = resp.AppendArray(out, 2*len(ms))
	for _, m := range ms {
		out = resp.AppendBulkString(out, m.Member)
		out = c.appendScore(out, m.Score)
	}
	return out
}

// cmdBZPop is BZPOPMIN and BZPOPMAX key [key ...] timeout: ZPOPMIN or
// ZPOPMAX of one member that blocks, as BLPOP does, while all the keys
// are empty.
func cmdBZPop(c *conn, args [][]byte, out []byte) []byte {
	timeout, msg := blockTimeout(args[len(args)-1])
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	p, w, err := c.s.store.BZPop(args[1:len(args)-1], is(args[0], "BZPOPMIN"), c.wake)
	if err != nil {
		return appendErr(out, err)
	}
	if w != nil {
		// The event loop replies when the wait ends.
		c.block = &blocked{w: w, timeout: timeout, zset: true}
		return out
	}
	return c.appendZPopped(out, p)
}

// appendZPopped appends a blocking pop's reply from a sorted set: key,
// member and score, or null.
func (c *conn) appendZPopped(out []byte, p *store.Popped) []byte {
	if p == nil {
		return c.appendNullArray(out)
	}
	out = resp.AppendArray(out, 3)
	out = resp.AppendBulkString(out, p.Key)
	out = resp.AppendBulk(out, p.Value)
	return c.appendScore(out, p.Score)
}

// maxRandMembers bounds the members one ZRANDMEMBER with a negative count
// draws: a reply that long passes any output limit, and the connection is
// closed, as Redis's output limit would.
const maxRandMembers = 1 << 22

// cmdZRandMember is ZRANDMEMBER key [count [WITHSCORES]].
func cmdZRandMember(c *conn, args [][]byte, out []byte) []byte {
	if len(args) == 2 {
		ms, err := c.s.store.ZRandMember(args[1], 1)
		switch {
		case err != nil:
			return appendErr(out, err)
		case len(ms) == 0:
			return c.appendNull(out)
		}
		return resp.AppendBulkString(out, ms[0].Member)
	}
	count, ok := store.ParseInt(args[2])
	if !ok || count == math.MinInt64 {
		return resp.AppendError(out, errNotInt)
	}
	withScores := len(args) == 4
	switch {
	case len(args) > 4 || withScores && !is(args[3], "WITHSCORES"):
		return resp.AppendError(out, errSyntax)
	case withScores && (count < math.MinInt64/2 || count > math.MaxInt64/2):
		return resp.AppendError(out, "ERR value is out of range")
	}
	ms, err := c.s.store.ZRandMember(args[1], int(max(min(count, maxRandMembers), -maxRandMembers)))
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendMembers(out, ms, withScores)
}

// cmdZScan is ZSCAN key cursor [MATCH pattern] [COUNT count]. It returns
// every matching member in one reply, with cursor 0 (see store.ZScan);
// scores are bulk strings in RESP3 too, as in Redis.
func cmdZScan(c *conn, args [][]byte, out []byte) []byte {
	if _, err := strconv.ParseUint(string(args[2]), 10, 64); err != nil {
		return resp.AppendError(out, "ERR invalid cursor")
	}
	pattern := "*"
	for i := 3; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return resp.AppendError(out, errSyntax)
		}
		switch a, v := args[i], args[i+1]; {
		case is(a, "MATCH"):
			pattern = string(v)
		case is(a, "COUNT"):
			n, ok := store.ParseInt(v)
			if !ok {
				return resp.AppendError(out, errNotInt)
			}
			if n < 1 {
				return resp.AppendError(out, errSyntax)
			}
		default:
			return resp.AppendError(out, errSyntax)
		}
	}
	ms, err := c.s.store.ZScan(args[1], pattern)
	if err != nil {
		return appendErr(out, err)
	}
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, "0")
	out = resp.AppendArray(out, 2*len(ms))
	for _, m := range ms {
		if c.overflowing(out) {
			break
		}
		out = resp.AppendBulkString(out, m.Member)
		out = appendScoreText(out, m.Score)
	}
	return out
}
