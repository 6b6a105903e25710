package store

import (
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/tidwall/btree"
)

// ZMember is an element of a sorted set with its score.
type ZMember struct {
	Member string
	Score  float64
}

func zless(a, b ZMember) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.Member < b.Member
}

// zset is the value of a sorted-set key: each member's score, and the
// members ordered by (score, member). The order is tidwall/btree's BTreeG,
// already the store's key index: its nodes count their items, so GetAt
// finds the i-th member in O(log n) and a rank is a binary search over it,
// which a skiplist of our own would only repeat.
type zset struct {
	scores map[string]float64
	order  *btree.BTreeG[ZMember]
	bytes  int64 // sum of the members' lengths
}

// zsetElemOverhead is what one member costs beyond its bytes: its map slot
// and score, and its slot in the ordered index.
const zsetElemOverhead = 2*elemOverhead + 16

func newZset() *zset {
	return &zset{scores: make(map[string]float64),
		order: btree.NewBTreeGOptions(zless, btree.Options{NoLocks: true})}
}

func (z *zset) typeName() string { return "zset" }
func (z *zset) len() int         { return len(z.scores) }
func (z *zset) cost() int64      { return z.bytes + int64(len(z.scores))*zsetElemOverhead }

func (z *zset) clone() object {
	return &zset{scores: maps.Clone(z.scores), order: z.order.Copy(), bytes: z.bytes}
}

// set gives member score, adding it if new.
func (z *zset) set(member string, score float64) {
	if old, ok := z.scores[member]; ok {
		z.order.Delete(ZMember{member, old})
	} else {
		z.bytes += int64(len(member))
	}
	z.scores[member] = score
	z.order.Set(ZMember{member, score})
}

func (z *zset) del(member string) bool {
	score, ok := z.scores[member]
	if ok {
		delete(z.scores, member)
		z.order.Delete(ZMember{member, score})
		z.bytes -= int64(len(member))
	}
	return ok
}

// count returns how many members, in order, satisfy below: a predicate
// that holds for a prefix of the order.
func (z *zset) count(below func(ZMember) bool) int {
	lo, hi := 0, z.order.Len()
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m, _ := z.order.GetAt(mid); below(m) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// rank is member's 0-based position in ascending order.
func (z *zset) rank(member string, score float64) int {
	m := ZMember{member, score}
	return z.count(func(x ZMember) bool { return zless(x, m) })
}

// walk calls f for the members at ascending positions lo..hi-1, in
// descending order if rev, until f returns false.
func (z *zset) walk(lo, hi int, rev bool, f func(ZMember) bool) {
	if lo >= hi {
		return
	}
	n := hi - lo
	if rev {
		start, _ := z.order.GetAt(hi - 1)
		z.order.Descend(start, func(m ZMember) bool { n--; return f(m) && n > 0 })
	} else {
		start, _ := z.order.GetAt(lo)
		z.order.Ascend(start, func(m ZMember) bool { n--; return f(m) && n > 0 })
	}
}

// ScoreBound is one end of a score range: Value itself is in the range
// unless Excl.
type ScoreBound struct {
	Value float64
	Excl  bool
}

// LexBound is one end of a member range: "-" (Inf < 0) and "+" (Inf > 0)
// are below and above every member, otherwise Value itself is in the range
// unless Excl.
type LexBound struct {
	Value string
	Excl  bool
	Inf   int
}

// Range selection kinds.
const (
	ByRank = iota
	ByScore
	ByLex
)

// ZRange selects members of a sorted set, as ZRANGE's arguments do: by
// rank (Start..Stop, inclusive, negative counting from the end), by score
// (Min..Max) or by member (LexMin..LexMax, for members of equal score).
// Rev counts ranks from the highest and returns the highest first. Offset
// and Count (ZRANGE's LIMIT; Count < 0 means all) then skip and keep
// members of the selection in that order.
type ZRange struct {
	By             int
	Start, Stop    int
	Min, Max       ScoreBound
	LexMin, LexMax LexBound
	Rev            bool
	Offset, Count  int
}

// All is the Count of a range with no LIMIT.
const All = -1

// bounds returns the ascending positions lo..hi-1 that r selects in z,
// before its LIMIT.
func (z *zset) bounds(r ZRange) (lo, hi int) {
	n := z.len()
	switch r.By {
	case ByRank:
		start, stop := r.Start, r.Stop
		if start < 0 {
			start = max(n+start, 0)
		}
		if stop < 0 {
			stop += n
		}
		stop = min(stop, n-1)
		if start > stop {
			return 0, 0
		}
		if r.Rev {
			return n - 1 - stop, n - start
		}
		return start, stop + 1
	case ByScore:
		lo = z.count(func(m ZMember) bool {
			return m.Score < r.Min.Value || r.Min.Excl && m.Score == r.Min.Value
		})
		hi = z.count(func(m ZMember) bool {
			return m.Score < r.Max.Value || !r.Max.Excl && m.Score == r.Max.Value
		})
	case ByLex:
		lo = z.count(func(m ZMember) bool { return !r.LexMin.admitsAbove(m.Member) })
		hi = z.count(func(m ZMember) bool { return r.LexMax.admitsBelow(m.Member) })
	}
	return lo, max(lo, hi)
}

// admitsAbove reports whether s is at or above b, as a range's minimum.
func (b LexBound) admitsAbove(s string) bool {
	switch {
	case b.Inf != 0:
		return b.Inf < 0
	case b.Excl:
		return s > b.Value
	}
	return s >= b.Value
}

// admitsBelow reports whether s is at or below b, as a range's maximum.
func (b LexBound) admitsBelow(s string) bool {
	switch {
	case b.Inf != 0:
		return b.Inf > 0
	case b.Excl:
		return s < b.Value
	}
	return s <= b.Value
}

// selectRange returns the members r selects in z, in r's order.
func (z *zset) selectRange(r ZRange) []ZMember {
	lo, hi := z.bounds(r)
	if r.By != ByRank {
		if r.Offset < 0 {
			return nil
		}
		if r.Rev {
			hi -= min(r.Offset, hi-lo)
			if r.Count >= 0 {
				lo = max(lo, hi-r.Count)
			}
		} else {
			lo += min(r.Offset, hi-lo)
			if r.Count >= 0 {
				hi = min(hi, lo+r.Count)
			}
		}
	}
	out := make([]ZMember, 0, max(hi-lo, 0))
	z.walk(lo, hi, r.Rev, func(m ZMember) bool { out = append(out, m); return true })
	return out
}

// ZAddOptions are ZADD's flags.
type ZAddOptions struct {
	NX, XX bool // only add new members / only update existing ones
	GT, LT bool // update only to a greater / lesser score
	Incr   bool // add the score to the member's (one member only)
}

// ErrScoreNaN is the error of an increment that would make a score NaN.
var ErrScoreNaN = errors.New("ERR resulting score is not a number (NaN)")

// ZAdd adds members with their scores to key's sorted set, or updates
// their scores, under opt. It returns how many members it added and how
// many existing ones it changed the score of; with Incr, the member's new
// score, and whether it was set at all (ok false: a condition refused
// it). A write that changes nothing does not mark the key changed.
func (s *Store) ZAdd(key []byte, members []ZMember, opt ZAddOptions) (added, updated int, score float64, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := objectFor[*zset](s, key)
	if err != nil {
		return 0, 0, 0, false, err
	}
	// Plan first, so a refused or NaN change leaves everything untouched.
	var plan []ZMember
	planned := make(map[string]float64)
	var need int64
	for _, m := range members {
		cur, exists := planned[m.Member]
		if !exists && z != nil {
			cur, exists = z.scores[m.Member]
		}
		if exists && opt.NX || !exists && opt.XX {
			ok = false
			continue
		}
		score = m.Score
		if opt.Incr && exists {
			score += cur
		}
		switch {
		case math.IsNaN(score):
			return 0, 0, 0, false, ErrScoreNaN
		case exists && (opt.GT && score <= cur || opt.LT && score >= cur):
			ok = false
			continue
		}
		ok = true
		score += 0 // -0 is stored as 0, as Redis prints it
		if !exists {
			added++
			need += int64(len(m.Member)) + zsetElemOverhead
		} else if score != cur {
			updated++
		} else {
			continue
		}
		planned[m.Member] = score
		plan = append(plan, ZMember{m.Member, score})
	}
	if len(plan) == 0 {
		return added, updated, score, ok, nil
	}
	if err := s.makeRoom(need, e); err != nil {
		return 0, 0, 0, false, err
	}
	if e == nil {
		if e, z, err = createObject(s, key, newZset, nil); err != nil {
			return 0, 0, 0, false, err
		}
	}
	s.change(e, func() {
		for _, m := range plan {
			z.set(m.Member, m.Score)
		}
	})
	s.signal(e.key())
	return added, updated, score, ok, nil
}

// zsetFor is objectFor for reads of a sorted set, counted as a hit or a
// miss. s.mu must be held.
func (s *Store) zsetFor(key []byte) (*entry, *zset, error) {
	e, z, err := objectFor[*zset](s, key)
	switch {
	case err != nil:
	case e == nil:
		s.stats.Misses++
	default:
		s.stats.Hits++
	}
	return e, z, err
}

// ZScores returns the scores of members in key's sorted set; ok[i] is
// false for a member that is not there.
func (s *Store) ZScores(key []byte, members [][]byte) (scores []float64, ok []bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := s.zsetFor(key)
	if err != nil {
		return nil, nil, err
	}
	scores, ok = make([]float64, len(members)), make([]bool, len(members))
	if e != nil {
		for i, m := range members {
			scores[i], ok[i] = z.scores[string(m)]
		}
	}
	return scores, ok, nil
}

// ZCard returns the number of members of key's sorted set.
func (s *Store) ZCard(key []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := s.zsetFor(key)
	if e == nil {
		return 0, err
	}
	return z.len(), nil
}

// ZCount returns how many members r selects (its LIMIT aside).
func (s *Store) ZCount(key []byte, r ZRange) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := s.zsetFor(key)
	if e == nil {
		return 0, err
	}
	lo, hi := z.bounds(r)
	return hi - lo, nil
}

// ZRange returns the members r selects from key's sorted set.
func (s *Store) ZRange(key []byte, r ZRange) ([]ZMember, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := s.zsetFor(key)
	if e == nil {
		return nil, err
	}
	return z.selectRange(r), nil
}

// ZRangeStore stores the members r selects from src's sorted set as dst's
// sorted set, replacing whatever dst held (deleting it if none are
// selected), and returns their number.
func (s *Store) ZRangeStore(dst, src []byte, r ZRange) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sel []ZMember
	e, z, err := s.zsetFor(src)
	if err != nil {
		return 0, err
	}
	if e != nil {
		sel = z.selectRange(r)
	}
	return len(sel), s.storeZset(dst, sel)
}

// storeZset replaces key's value by a sorted set of members, or deletes
// key if there are none. s.mu must be held.
func (s *Store) storeZset(key []byte, members []ZMember) error {
	var need int64
	for _, m := range members {
		need += int64(len(m.Member)) + zsetElemOverhead
	}
	old := s.lookup(key)
	if err := s.makeRoom(need, old); err != nil {
		return err
	}
	if old != nil {
		s.remove(old)
	}
	if len(members) == 0 {
		return nil
	}
	e, z, err := createObject(s, key, newZset, nil)
	if err != nil {
		return err
	}
	s.change(e, func() {
		for _, m := range members {
			z.set(m.Member, m.Score)
		}
	})
	s.signal(e.key())
	return nil
}

// ZRank returns member's rank in key's sorted set, counted from the
// highest score if rev, and its score; ok is false if it is not there.
func (s *Store) ZRank(key, member []byte, rev bool) (rank int, score float64, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := s.zsetFor(key)
	if e == nil {
		return 0, 0, false, err
	}
	score, ok = z.scores[string(member)]
	if !ok {
		return 0, 0, false, nil
	}
	rank = z.rank(string(member), score)
	if rev {
		rank = z.len() - 1 - rank
	}
	return rank, score, true, nil
}

// ZRem removes members from key's sorted set and returns how many were
// there.
func (s *Store) ZRem(key []byte, members [][]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := objectFor[*zset](s, key)
	if e == nil {
		return 0, err
	}
	n := 0
	if slices.ContainsFunc(members, func(m []byte) bool { _, ok := z.scores[string(m)]; return ok }) {
		s.change(e, func() {
			for _, m := range members {
				if z.del(string(m)) { // a member named twice counts once
					n++
				}
			}
		})
	}
	return n, nil
}

// ZRemRange removes the members r selects (its LIMIT aside) and returns
// how many.
func (s *Store) ZRemRange(key []byte, r ZRange) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := objectFor[*zset](s, key)
	if e == nil {
		return 0, err
	}
	r.Rev, r.Offset, r.Count = false, 0, All
	sel := z.selectRange(r)
	if len(sel) > 0 {
		s.change(e, func() {
			for _, m := range sel {
				z.del(m.Member)
			}
		})
	}
	return len(sel), nil
}

// ZPop removes and returns up to count members of key's sorted set with
// the lowest scores, or the highest if max, in that order.
func (s *Store) ZPop(key []byte, max bool, count int) ([]ZMember, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := s.zsetFor(key)
	if e == nil {
		return nil, err
	}
	return s.zpopLocked(e, z, max, count), nil
}

// zpopLocked pops up to count members from z, e's sorted set, deleting e
// if that empties it. s.mu must be held.
func (s *Store) zpopLocked(e *entry, z *zset, max bool, count int) []ZMember {
	var out []ZMember
	if count <= 0 {
		return out
	}
	s.change(e, func() {
		for len(out) < count && z.len() > 0 {
			m, _ := z.order.Min()
			if max {
				m, _ = z.order.Max()
			}
			z.del(m.Member)
			out = append(out, m)
		}
	})
	s.stats.Pops += int64(len(out))
	return out
}

// ZRandMember returns count random members of key's sorted set: distinct
// ones (at most all) if count > 0, and -count members that may repeat if
// count < 0, as ZRANDMEMBER's count does.
func (s *Store) ZRandMember(key []byte, count int) ([]ZMember, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := s.zsetFor(key)
	if e == nil || count == 0 {
		return nil, err
	}
	n := z.len()
	if count < 0 {
		out := make([]ZMember, -count)
		for i := range out {
			out[i], _ = z.order.GetAt(rand.IntN(n))
		}
		return out, nil
	}
	if count >= n {
		out := z.order.Items()
		rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out, nil
	}
	out := make([]ZMember, 0, count)
	for _, i := range rand.Perm(n)[:count] {
		m, _ := z.order.GetAt(i)
		out = append(out, m)
	}
	return out, nil
}

// ZScan returns the members of key's sorted set that match pattern, in
// order. ZSCAN returns them in one call, as Redis does for small sets,
// so each member present for the whole scan is returned exactly once.
func (s *Store) ZScan(key []byte, pattern string) ([]ZMember, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, z, err := objectFor[*zset](s, key)
	if e == nil {
		return nil, err
	}
	var out []ZMember
	z.order.Scan(func(m ZMember) bool {
		if pattern == "*" || Match(pattern, m.Member) {
			out = append(out, m)
		}
		return true
	})
	return out, nil
}

// BZPop pops the member with the lowest score (min) or the highest from
// the first non-empty sorted set among keys, as BPop does for lists: if
// all are empty it returns a Waiter instead, which receives the first
// member added to any of them (in Popped's Value and Score).
func (s *Store) BZPop(keys [][]byte, min bool, notify func()) (*Popped, *Waiter, error) {
	return s.bzpop(keys, min, 0, notify)
}

// putBackMember returns a member that reached a cancelled wait to its
// sorted set, unless the member was added again meanwhile. s.mu must be
// held.
func (s *Store) putBackMember(p Popped) {
	e, z, err := createObject(s, []byte(p.Key), newZset, nil)
	if err != nil {
		return
	}
	s.change(e, func() {
		if _, ok := z.scores[string(p.Value)]; !ok {
			z.set(string(p.Value), p.Score)
		}
	})
	s.stats.Pops--
	s.signal(e.key())
}
