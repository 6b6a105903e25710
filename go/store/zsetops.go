package store

import (
	"cmp"
	"math"
	"slices"
)

// The set operations of sorted sets: ZUNION, ZINTER, ZDIFF and their STORE
// forms, and ZINTERCARD, computed as Redis 7.0 computes them.

// Set operations.
const (
	ZUnion = iota
	ZInter
	ZDiff
)

// How ZUNION and ZINTER combine a member's scores from several sets.
const (
	AggregateSum = iota
	AggregateMin
	AggregateMax
)

// ZSetOp is a set operation on sorted sets: Op over the keys' sets, each
// member's score from each set multiplied by that set's weight (nil: all
// 1) and the products combined by Aggregate. A missing key is an empty
// set.
type ZSetOp struct {
	Op        int
	Weights   []float64
	Aggregate int
}

// ZSetOp returns the members op gives over keys' sorted sets, in order.
func (s *Store) ZSetOp(keys [][]byte, op ZSetOp) ([]ZMember, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.zsetOpLocked(keys, op)
}

// ZSetOpStore stores the members op gives over keys' sorted sets as dst's
// sorted set, replacing whatever dst held (deleting it if there are none),
// and returns their number.
func (s *Store) ZSetOpStore(dst []byte, keys [][]byte, op ZSetOp) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms, err := s.zsetOpLocked(keys, op)
	if err != nil {
		return 0, err
	}
	return len(ms), s.storeZset(dst, ms)
}

// A zsetInput is one input of a set operation: a sorted set, or a set
// whose members all score 1 (as in Redis), or nothing (a missing key).
type zsetInput struct {
	z      *zset
	set    *set
	weight float64
}

func (in zsetInput) len() int {
	switch {
	case in.z != nil:
		return in.z.len()
	case in.set != nil:
		return in.set.len()
	}
	return 0
}

// each calls f for every member and its score.
func (in zsetInput) each(f func(member string, score float64)) {
	switch {
	case in.z != nil:
		for m, score := range in.z.scores {
			f(m, score)
		}
	case in.set != nil:
		for _, m := range in.set.all() {
			f(m.name, 1)
		}
	}
}

// score is member's score, if it is there.
func (in zsetInput) score(member string) (float64, bool) {
	switch {
	case in.z != nil:
		score, ok := in.z.scores[member]
		return score, ok
	case in.set != nil:
		_, ok := in.set.get([]byte(member))
		return 1, ok
	}
	return 0, false
}

// zsetInputs returns keys' sorted sets or sets, counted as hits or
// misses, or ErrWrongType if one is of another type. s.mu must be held.
func (s *Store) zsetInputs(keys [][]byte, weights []float64) ([]zsetInput, error) {
	in := make([]zsetInput, len(keys))
	for i, k := range keys {
		in[i].weight = 1
		if weights != nil {
			in[i].weight = weights[i]
		}
		e := s.lookup(k)
		if e == nil {
			s.stats.Misses++
			continue
		}
		switch o := s.objects[e].(type) {
		case *zset:
			in[i].z = o
		case *set:
			in[i].set = o
		default:
			return nil, ErrWrongType
		}
		s.stats.Hits++
	}
	return in, nil
}

// ZSetOpInputs reports ErrWrongType if a key holds neither a sorted set
// nor a set: what a set operation checks before its options.
func (s *Store) ZSetOpInputs(keys [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.zsetInputs(keys, nil)
	return err
}

func (s *Store) zsetOpLocked(keys [][]byte, op ZSetOp) ([]ZMember, error) {
	in, err := s.zsetInputs(keys, op.Weights)
	if err != nil {
		return nil, err
	}
	result := make(map[string]float64)
	switch op.Op {
	case ZUnion:
		// Smallest first, as Redis adds them: the order of a sum's terms.
		slices.SortStableFunc(in, func(a, b zsetInput) int { return cmp.Compare(a.len(), b.len()) })
		for _, src := range in {
			src.each(func(m string, score float64) {
				v := weighted(score, src.weight)
				if cur, ok := result[m]; ok {
					result[m] = aggregate(cur, v, op.Aggregate)
				} else {
					result[m] = v
				}
			})
		}
	case ZInter:
		slices.SortStableFunc(in, func(a, b zsetInput) int { return cmp.Compare(a.len(), b.len()) })
		in[0].each(func(m string, score float64) {
			v := weighted(score, in[0].weight)
			for _, other := range in[1:] {
				s, ok := other.score(m)
				if !ok {
					return
				}
				v = aggregate(v, weighted(s, other.weight), op.Aggregate)
			}
			result[m] = v
		})
	case ZDiff:
		in[0].each(func(m string, score float64) {
			for _, other := range in[1:] {
				if _, ok := other.score(m); ok {
					return
				}
			}
			result[m] = score
		})
	}
	out := make([]ZMember, 0, len(result))
	for m, score := range result {
		out = append(out, ZMember{m, score})
	}
	slices.SortFunc(out, func(a, b ZMember) int {
		if zless(a, b) {
			return -1
		}
		return 1
	})
	return out, nil
}

// weighted is score times weight, 0 where that is NaN (0 times inf), as
// in Redis.
func weighted(score, weight float64) float64 {
	v := score * weight
	if math.IsNaN(v) {
		return 0
	}
	return v
}

// aggregate combines two of a member's weighted scores; a sum of inf and
// -inf is 0, as in Redis.
func aggregate(a, b float64, how int) float64 {
	switch how {
	case AggregateMin: // a, unless b is smaller, as Redis compares
		if b < a {
			return b
		}
		return a
	case AggregateMax:
		if b > a {
			return b
		}
		return a
	}
	if v := a + b; !math.IsNaN(v) {
		return v
	}
	return 0
}
