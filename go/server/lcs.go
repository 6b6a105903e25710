package server

import (
	"errors"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// LCS (Redis 7.0): the longest common subsequence of two strings.

// lcsMatch is one run of bytes the two strings share in their LCS: a[a0..a1]
// equals b[b0..b1], ends included.
type lcsMatch struct{ a0, a1, b0, b1 int }

// lcs returns the longest common subsequence of a and b, and its runs, the
// last first, as Redis reports them. table has room for
// (len(a)+1)*(len(b)+1) lengths.
func lcs(a, b []byte, table []uint32) ([]byte, []lcsMatch) {
	w := len(b) + 1
	at := func(i, j int) uint32 { return table[i*w+j] } // the LCS length of a[:i] and b[:j]
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				table[i*w+j] = at(i-1, j-1) + 1
			} else {
				table[i*w+j] = max(at(i-1, j), at(i, j-1))
			}
		}
	}
	// Walk back from the end: a shared byte joins the current run if the
	// run reaches on to it, and any other step ends the run.
	seq := make([]byte, at(len(a), len(b)))
	n := len(seq)
	var runs []lcsMatch
	var run *lcsMatch
	for i, j := len(a), len(b); i > 0 && j > 0; {
		if a[i-1] == b[j-1] {
			i, j, n = i-1, j-1, n-1
			seq[n] = a[i]
			if run == nil {
				runs = append(runs, lcsMatch{i, i, j, j})
				run = &runs[len(runs)-1]
			} else {
				run.a0, run.b0 = i, j
			}
			continue
		}
		run = nil
		if at(i-1, j) > at(i, j-1) {
			i--
		} else {
			j--
		}
	}
	return seq, runs
}

// cmdLCS is LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]:
// the common subsequence, its length (LEN), or its runs of at least len
// bytes and its length (IDX).
func cmdLCS(c *conn, args [][]byte, out []byte) []byte {
	strs, err := c.s.store.Strings(args[1], args[2]) // Redis checks the types before the options
	switch {
	case errors.Is(err, store.ErrWrongType):
		return resp.AppendError(out, "ERR The specified keys must contain string values")
	case err != nil:
		return appendErr(out, err)
	}
	var getLen, getIdx, withLen bool
	var minLen int64
	for i := 3; i < len(args); i++ {
		switch a := args[i]; {
		case is(a, "LEN"):
			getLen = true
		case is(a, "IDX"):
			getIdx = true
		case is(a, "WITHMATCHLEN"):
			withLen = true
		case is(a, "MINMATCHLEN") && i+1 < len(args):
			i++
			n, ok := store.ParseInt(args[i])
			if !ok {
				return resp.AppendError(out, errNotInt)
			}
			minLen = max(n, 0)
		default:
			return resp.AppendError(out, errSyntax)
		}
	}
	if getLen && getIdx {
		return resp.AppendError(out, "ERR If you want both the length and indexes, please just use IDX.")
	}
	a, b := strs[0], strs[1]
	cells := (uint64(len(a)) + 1) * (uint64(len(b)) + 1)
	if cells*4 > uint64(c.s.cfg.MaxBulk) {
		return resp.AppendError(out, "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
	}
	seq, runs := lcs(a, b, make([]uint32, cells))
	switch {
	case getLen:
		return resp.AppendInt(out, int64(len(seq)))
	case !getIdx:
		return resp.AppendBulk(out, seq)
	}
	out = c.appendMap(out, 2)
	out = resp.AppendBulkString(out, "matches")
	var kept []lcsMatch
	for _, r := range runs {
		if int64(r.a1-r.a0+1) >= minLen {
			kept = append(kept, r)
		}
	}
	out = resp.AppendArray(out, len(kept))
	for _, r := range kept {
		if withLen {
			out = resp.AppendArray(out, 3)
		} else {
			out = resp.AppendArray(out, 2)
		}
		out = resp.AppendInt(resp.AppendInt(resp.AppendArray(out, 2), int64(r.a0)), int64(r.a1))
		out = resp.AppendInt(resp.AppendInt(resp.AppendArray(out, 2), int64(r.b0)), int64(r.b1))
		if withLen {
			out = resp.AppendInt(out, int64(r.a1-r.a0+1))
		}
	}
	out = resp.AppendBulkString(out, "len")
	return resp.AppendInt(out, int64(len(seq)))
}
