package store

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func zmemberNames(ms []ZMember) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s=%g", m.Member, m.Score))
	}
	return out
}

// The order is by score, then by member for equal scores; ranks, counts
// and ranges are positions in it, whatever the set's size (the btree
// splits its nodes past a few dozen members).
func TestZsetOrderRanksAndRanges(t *testing.T) {
	s := New(Config{})
	k := []byte("z")
	var ms []ZMember
	for i := 999; i >= 0; i-- {
		ms = append(ms, ZMember{Member: fmt.Sprintf("m%03d", i), Score: float64(i / 10)})
	}
	if added, _, _, _, err := s.ZAdd(k, ms, ZAddOptions{}); added != 1000 || err != nil {
		t.Fatalf("ZAdd = %d, %v", added, err)
	}
	for _, i := range []int{0, 1, 9, 10, 500, 999} {
		rank, score, ok, _ := s.ZRank(k, []byte(fmt.Sprintf("m%03d", i)), false)
		if !ok || rank != i || score != float64(i/10) {
			t.Errorf("ZRank m%03d = %d, %g, %v; want %d", i, rank, score, ok, i)
		}
		if rev, _, _, _ := s.ZRank(k, []byte(fmt.Sprintf("m%03d", i)), true); rev != 999-i {
			t.Errorf("ZREVRANK m%03d = %d; want %d", i, rev, 999-i)
		}
	}
	for _, tc := range []struct {
		r    ZRange
		want []string
	}{
		{ZRange{By: ByRank, Start: 0, Stop: 1, Count: All}, []string{"m000=0", "m001=0"}},
		{ZRange{By: ByRank, Start: -1, Stop: -1, Count: All}, []string{"m999=99"}},
		{ZRange{By: ByRank, Start: 0, Stop: 1, Rev: true, Count: All}, []string{"m999=99", "m998=99"}},
		{ZRange{By: ByScore, Min: ScoreBound{Value: 50, Excl: true}, Max: ScoreBound{Value: 51}, Count: 2},
			[]string{"m510=51", "m511=51"}},
		{ZRange{By: ByScore, Min: ScoreBound{Value: 98}, Max: ScoreBound{Value: math.Inf(1)}, Rev: true, Offset: 9, Count: 2},
			[]string{"m990=99", "m989=98"}},
		{ZRange{By: ByScore, Min: ScoreBound{Value: 5}, Max: ScoreBound{Value: 5, Excl: true}, Count: All}, nil},
		{ZRange{By: ByScore, Min: ScoreBound{Value: 1}, Max: ScoreBound{Value: 0}, Count: All}, nil},
	} {
		got, _ := s.ZRange(k, tc.r)
		if !slices.Equal(zmemberNames(got), tc.want) {
			t.Errorf("ZRange %+v = %v; want %v", tc.r, zmemberNames(got), tc.want)
		}
	}
	if n, _ := s.ZCount(k, ZRange{By: ByScore, Min: ScoreBound{Value: 10}, Max: ScoreBound{Value: 20, Excl: true}}); n != 100 {
		t.Errorf("ZCount [10, 20) = %d; want 100", n)
	}
	if n, _ := s.ZRemRange(k, ZRange{By: ByRank, Start: 0, Stop: 499}); n != 500 {
		t.Errorf("ZRemRange by rank 0..499 = %d", n)
	}
	if rank, _, _, _ := s.ZRank(k, []byte("m500"), false); rank != 0 {
		t.Errorf("ZRank m500 after removing the first half = %d; want 0", rank)
	}
}

func TestZsetByLex(t *testing.T) {
	s := New(Config{})
	k := []byte("z")
	s.ZAdd(k, []ZMember{{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}}, ZAddOptions{})
	for _, tc := range []struct {
		min, max LexBound
		want     []string
	}{
		{LexBound{Inf: -1}, LexBound{Inf: 1}, []string{"a=0", "b=0", "c=0", "d=0"}},
		{LexBound{Value: "b"}, LexBound{Value: "c"}, []string{"b=0", "c=0"}},
		{LexBound{Value: "a", Excl: true}, LexBound{Value: "d", Excl: true}, []string{"b=0", "c=0"}},
		{LexBound{Inf: 1}, LexBound{Inf: -1}, nil},
	} {
		got, _ := s.ZRange(k, ZRange{By: ByLex, LexMin: tc.min, LexMax: tc.max, Count: All})
		if !slices.Equal(zmemberNames(got), tc.want) {
			t.Errorf("ByLex %+v..%+v = %v; want %v", tc.min, tc.max, zmemberNames(got), tc.want)
		}
	}
}

// Every element counts against the memory bound, and is given back when
// it goes: a set grown and emptied leaves the count where it was, and a
// bounded store evicts other keys to make room for members.
func TestZsetMemoryIsAccountedPerMember(t *testing.T) {
	k := []byte("z")
	var ms []ZMember
	for i := range 40 {
		ms = append(ms, ZMember{Member: fmt.Sprintf("member-%02d", i), Score: float64(i)})
	}
	s := New(Config{MaxMemory: 4000})
	s.Set([]byte("old"), make([]byte, 1000), SetOptions{})
	s.ZAdd(k, ms, ZAddOptions{})
	if used := s.Stats().UsedMemory; s.Exists([]byte("old")) || used > 4000 {
		t.Errorf("40 members under a 4000-byte bound: used %d, the 1000-byte string still there: %v", used, s.Exists([]byte("old")))
	}

	s = New(Config{})
	s.Set([]byte("other"), []byte("v"), SetOptions{})
	base := s.Stats().UsedMemory
	s.ZAdd(k, ms, ZAddOptions{})
	if grown := s.Stats().UsedMemory - base; grown < 40*(9+zsetElemOverhead) {
		t.Errorf("40 members of 9 bytes count for %d bytes", grown)
	}
	s.ZRem(k, [][]byte{[]byte("member-00")})
	s.ZPop(k, true, 5)
	s.ZRemRange(k, ZRange{By: ByRank, Start: 0, Stop: -1})
	if got := s.Stats().UsedMemory; got != base || s.Exists(k) {
		t.Errorf("after emptying the set: used %d, exists %v; want %d and gone", got, s.Exists(k), base)
	}
	noEvict := New(Config{MaxMemory: 500, NoEvict: true})
	if _, _, _, _, err := noEvict.ZAdd(k, ms, ZAddOptions{}); err != ErrOOM {
		t.Errorf("ZAdd past a noeviction bound = %v; want ErrOOM", err)
	}
}

// A write that changes nothing (ZADD NX of a member that is there, ZREM
// of one that is not, ZADD of the same score) is not a change: WATCH and
// tracking do not hear of it; every real change is heard.
func TestZsetChangesAreHeard(t *testing.T) {
	var heard []string
	s := New(Config{Changed: func(key string, flushed bool) { heard = append(heard, key) }})
	k := []byte("z")
	for _, tc := range []struct {
		name string
		op   func()
		want []string
	}{
		{"zadd", func() { s.ZAdd(k, []ZMember{{"a", 1}}, ZAddOptions{}) }, []string{"z"}},
		{"zadd same score", func() { s.ZAdd(k, []ZMember{{"a", 1}}, ZAddOptions{}) }, nil},
		{"zadd nx of a member there", func() { s.ZAdd(k, []ZMember{{"a", 5}}, ZAddOptions{NX: true}) }, nil},
		{"zadd xx of a missing key", func() { s.ZAdd([]byte("other"), []ZMember{{"a", 5}}, ZAddOptions{XX: true}) }, nil},
		{"zadd gt refused", func() { s.ZAdd(k, []ZMember{{"a", 0}}, ZAddOptions{GT: true}) }, nil},
		{"zincr", func() { s.ZAdd(k, []ZMember{{"a", 1}}, ZAddOptions{Incr: true}) }, []string{"z"}},
		{"zscore", func() { s.ZScores(k, [][]byte{[]byte("a")}) }, nil},
		{"zrange", func() { s.ZRange(k, ZRange{By: ByRank, Stop: -1, Count: All}) }, nil},
		{"zrem missing", func() { s.ZRem(k, [][]byte{[]byte("nobody")}) }, nil},
		{"zremrange none", func() { s.ZRemRange(k, ZRange{By: ByScore, Min: ScoreBound{Value: 100}, Max: ScoreBound{Value: 200}}) }, nil},
		{"zrangestore", func() { s.ZRangeStore([]byte("dst"), k, ZRange{By: ByRank, Stop: -1, Count: All}) }, []string{"dst"}},
		{"zpop", func() { s.ZPop(k, false, 1) }, []string{"z"}},
	} {
		heard = nil
		tc.op()
		if heard = slices.Compact(heard); !slices.Equal(heard, tc.want) {
			t.Errorf("%s: heard %q, want %q", tc.name, heard, tc.want)
		}
	}
}

func TestZAddOptions(t *testing.T) {
	s := New(Config{})
	k := []byte("z")
	s.ZAdd(k, []ZMember{{"a", 1}, {"b", 2}}, ZAddOptions{})
	if added, updated, _, _, _ := s.ZAdd(k, []ZMember{{"a", 3}, {"b", 1}, {"c", 0}}, ZAddOptions{GT: true}); added != 1 || updated != 1 {
		t.Errorf("ZADD GT = %d added, %d updated; want 1, 1 (a raised, b not lowered, c added)", added, updated)
	}
	if _, _, _, _, err := s.ZAdd(k, []ZMember{{"inf", math.Inf(1)}}, ZAddOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := s.ZAdd(k, []ZMember{{"inf", math.Inf(-1)}}, ZAddOptions{Incr: true}); err != ErrScoreNaN {
		t.Errorf("inf + -inf = %v; want ErrScoreNaN", err)
	}
	if _, _, score, ok, _ := s.ZAdd(k, []ZMember{{"a", 10}}, ZAddOptions{Incr: true, LT: true}); ok {
		t.Errorf("ZADD LT INCR 10 was applied (score %g)", score)
	}
	s.Set([]byte("s"), []byte("v"), SetOptions{})
	if _, _, _, _, err := s.ZAdd([]byte("s"), []ZMember{{"a", 1}}, ZAddOptions{XX: true}); err != ErrWrongType {
		t.Errorf("ZADD XX on a string = %v; want ErrWrongType", err)
	}
	if got := s.Type(k); got != "zset" {
		t.Errorf("TYPE = %q", got)
	}
}

// A member that reached a BZPOPMIN given up before it took it goes back
// to its set; a push to a list does not serve a sorted set's waiter.
func TestBZPopWaitersAndCancel(t *testing.T) {
	s := New(Config{})
	_, w, err := s.BZPop([][]byte{[]byte("k")}, true, nil)
	if w == nil || err != nil {
		t.Fatalf("BZPop on no key = %v, %v; want a waiter", w, err)
	}
	s.Push([]byte("k"), [][]byte{[]byte("v")}, false)
	s.ServeReady()
	if len(w.C) != 0 {
		t.Fatalf("a list push served a sorted set's waiter: %v", <-w.C)
	}
	s.Del([]byte("k"))
	s.ZAdd([]byte("k"), []ZMember{{"low", 1}, {"high", 2}}, ZAddOptions{})
	s.ServeReady()
	if len(w.C) != 1 {
		t.Fatal("ZADD did not serve the waiter")
	}
	s.Cancel(w) // given up after the member reached it
	got, _ := s.ZRange([]byte("k"), ZRange{By: ByRank, Stop: -1, Count: All})
	if !slices.Equal(zmemberNames(got), []string{"low=1", "high=2"}) {
		t.Errorf("after the cancelled wait the set is %v; want the member back", zmemberNames(got))
	}
}

func TestZsetCloneSharesNothing(t *testing.T) {
	z := newZset()
	z.set("a", 1)
	c := z.clone().(*zset)
	c.set("b", 2)
	c.del("a")
	if z.len() != 1 || z.scores["a"] != 1 || z.order.Len() != 1 {
		t.Errorf("changing the clone changed the original: %v", z.scores)
	}
}
