package server

import (
	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// The set operations of sorted sets: ZUNION, ZINTER, ZDIFF, their STORE
// forms and ZINTERCARD, parsed as Redis 7.0's zunionInterDiffGenericCommand
// parses them, errors in its order (the keys' types before the options).
// A set (SADD's type) as an input counts as a sorted set of scores 1, as
// in Redis.

// zsetOpCommand returns the command for op: storing (ZUNIONSTORE
// destination numkeys key ...), or replying the members (ZUNION numkeys
// key ...), or their number only (ZINTERCARD numkeys key ... [LIMIT n]).
func zsetOpCommand(op int, storing, card bool) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		at := 1
		if storing {
			at = 2
		}
		n, ok := store.ParseInt(args[at])
		switch {
		case !ok:
			return resp.AppendError(out, errNotInt)
		case n < 1:
			return resp.AppendError(out, "ERR at least 1 input key is needed for '"+string(lowerName(args[0]))+"' command")
		case n > int64(len(args)-at-1):
			return resp.AppendError(out, errSyntax)
		}
		keys := args[at+1 : at+1+int(n)]
		spec := store.ZSetOp{Op: op}
		withScores, limit := false, int64(0)
		msg := ""
	options:
		for i := at + 1 + int(n); i < len(args); i++ {
			left := len(args) - i
			switch a := args[i]; {
			case op != store.ZDiff && !card && left > len(keys) && is(a, "WEIGHTS"):
				spec.Weights = make([]float64, len(keys))
				for j := range keys {
					w, ok := parseScore(args[i+1+j])
					if !ok {
						msg = "ERR weight value is not a float"
						break options
					}
					spec.Weights[j] = w
				}
				i += len(keys)
			case op != store.ZDiff && !card && left >= 2 && is(a, "AGGREGATE"):
				switch b := args[i+1]; {
				case is(b, "SUM"):
					spec.Aggregate = store.AggregateSum
				case is(b, "MIN"):
					spec.Aggregate = store.AggregateMin
				case is(b, "MAX"):
					spec.Aggregate = store.AggregateMax
				default:
					msg = errSyntax
					break options
				}
				i++
			case !storing && !card && is(a, "WITHSCORES"):
				withScores = true
			case card && left >= 2 && is(a, "LIMIT"):
				l, ok := store.ParseInt(args[i+1])
				if !ok || l < 0 {
					msg = "ERR LIMIT can't be negative"
					break options
				}
				limit = l
				i++
			default:
				msg = errSyntax
				break options
			}
		}
		if msg != "" {
			if err := c.s.store.ZSetOpInputs(keys); err != nil { // the keys' types are checked first
				return appendErr(out, err)
			}
			return resp.AppendError(out, msg)
		}
		if storing {
			n, err := c.s.store.ZSetOpStore(args[1], keys, spec)
			if err != nil {
				return appendErr(out, err)
			}
			return resp.AppendInt(out, int64(n))
		}
		ms, err := c.s.store.ZSetOp(keys, spec)
		switch {
		case err != nil:
			return appendErr(out, err)
		case card && limit > 0:
			return resp.AppendInt(out, min(int64(len(ms)), limit))
		case card:
			return resp.AppendInt(out, int64(len(ms)))
		}
		return c.appendMembers(out, ms, withScores)
	}
}
