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

type zsetInput struct {
	z      *zset // nil: no key
	weight float64
}

func (in zsetInput) len() int {
	if in.z == nil {
		return 0
	}
	return in.z.len()
}

func (s *Store) zsetOpLocked(keys [][]byte, op ZSetOp) ([]ZMember, error) {
	in := make([]zsetInput, len(keys))
	for i, k := range keys {
		_, z, err := s.zsetFor(k)
		if err != nil {
			return nil, err
		}
		in[i] = zsetInput{z, 1}
		if op.Weights != nil {
			in[i].weight = op.Weights[i]
		}
	}
	result := make(map[string]float64)
	switch op.Op {
	case ZUnion:
		// Smallest first, as Redis adds them: the order of a sum's terms.
		slices.SortStableFunc(in, func(a, b zsetInput) int { return cmp.Compare(a.len(), b.len()) })
		for _, src := range in {
			if src.z == nil {
				continue
			}
			for m, score := range src.z.scores {
				v := weighted(score, src.weight)
				if cur, ok := result[m]; ok {
					result[m] = aggregate(cur, v, op.Aggregate)
				} else {
					result[m] = v
				}
			}
		}
	case ZInter:
		slices.SortStableFunc(in, func(a, b zsetInput) int { return cmp.Compare(a.len(), b.len()) })
		if in[0].len() == 0 {
			break
		}
	members:
		for m, score := range in[0].z.scores {
			v := weighted(score, in[0].weight)
			for _, other := range in[1:] {
				s, ok := other.z.scores[m]
				if !ok {
					continue members
				}
				v = aggregate(v, weighted(s, other.weight), op.Aggregate)
			}
			result[m] = v
		}
	case ZDiff:
		if in[0].len() == 0 {
			break
		}
	kept:
		for m, score := range in[0].z.scores {
			for _, other := range in[1:] {
				if _, ok := other.scores()[m]; ok {
					continue kept
				}
			}
			result[m] = score
		}
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

func (in zsetInput) scores() map[string]float64 {
	if in.z == nil {
		return nil
	}
	return in.z.scores
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
