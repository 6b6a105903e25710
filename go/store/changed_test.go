package store

import (
	"slices"
	"testing"
	"time"
)

// TestChangedHearsEveryChange checks the notice that CLIENT TRACKING is
// built on: every kind of change to a key is reported, reads are not. One
// change may be reported more than once in a row (a push that creates its
// list); those repeats are folded here.
func TestChangedHearsEveryChange(t *testing.T) {
	var heard []string
	now := time.Unix(1000, 0)
	s := New(Config{Now: func() time.Time { return now }, MaxMemory: 1000, Changed: func(key string, flushed bool) {
		if flushed {
			key = "<flush>"
		}
		heard = append(heard, key)
	}})
	k := []byte("k")
	for _, tc := range []struct {
		name string
		op   func()
		want []string
	}{
		{"set", func() { s.Set(k, []byte("1"), SetOptions{}) }, []string{"k"}},
		{"get", func() { s.Get(k) }, nil},
		{"incr", func() { s.IncrBy(k, 1) }, []string{"k"}},
		{"expire", func() { s.Expire(k, time.Minute) }, []string{"k"}},
		{"ttl", func() { s.TTL(k) }, nil},
		{"persist", func() { s.Persist(k) }, []string{"k"}},
		{"del", func() { s.Del(k) }, []string{"k"}},
		{"del missing", func() { s.Del(k) }, nil},
		{"push", func() { s.Push([]byte("l"), [][]byte{[]byte("a")}, true) }, []string{"l"}},
		{"pop", func() { s.Pop([]byte("l"), true, 1) }, []string{"l"}},
		{"hset", func() { s.HSet([]byte("h"), [][]byte{[]byte("f"), []byte("v")}, false) }, []string{"h"}},
		{"hget", func() { s.HGet([]byte("h"), []byte("f")) }, nil},
		{"hincrby refused", func() { s.HIncrBy([]byte("h"), []byte("f"), 1) }, nil},
		{"hincrby", func() { s.HIncrBy([]byte("h"), []byte("n"), 1) }, []string{"h"}},
		{"hdel", func() { s.HDel([]byte("h"), [][]byte{[]byte("f"), []byte("n")}) }, []string{"h"}},
		{"sadd", func() { s.SAdd([]byte("s"), [][]byte{[]byte("a"), []byte("b")}) }, []string{"s"}},
		{"smembers", func() { s.SMembers([]byte("s")) }, nil},
		{"srem", func() { s.SRem([]byte("s"), [][]byte{[]byte("a")}) }, []string{"s"}},
		{"smove", func() { s.SMove([]byte("s"), []byte("t"), []byte("b")) }, []string{"s", "t"}},
		{"sunionstore", func() { s.SCombineStore(Union, []byte("u"), [][]byte{[]byte("t")}) }, []string{"u"}},
		{"spop", func() { s.SPop([]byte("t"), 1) }, []string{"t"}},
		{"del u", func() { s.Del([]byte("u")) }, []string{"u"}},
		{"set ex", func() { s.Set(k, []byte("v"), SetOptions{TTL: time.Second}) }, []string{"k"}},
		{"expiry", func() {
			now = now.Add(2 * time.Second)
			s.ExpireDue(10)
		}, []string{"k"}},
		{"set again", func() { s.Set(k, []byte("v"), SetOptions{}) }, []string{"k"}},
		{"eviction", func() { s.Set([]byte("big"), make([]byte, 900), SetOptions{}) }, []string{"k", "big"}},
		{"flush", func() { s.Flush() }, []string{"<flush>"}},
	} {
		heard = nil
		tc.op()
		if heard = slices.Compact(heard); !slices.Equal(heard, tc.want) {
			t.Errorf("%s: heard %q, want %q", tc.name, heard, tc.want)
		}
	}
}

// Streams and the sorted sets' STORE operations are heard as every other
// change is (WATCH and tracking rest on it), and writes that change
// nothing (XDEL of IDs not there, XTRIM with nothing to trim) are not.
func TestStreamAndZsetStoreChangesAreHeard(t *testing.T) {
	var heard []string
	s := New(Config{Changed: func(key string, flushed bool) { heard = append(heard, key) }})
	x, f := []byte("x"), [][]byte{[]byte("f"), []byte("v")}
	for _, tc := range []struct {
		name string
		op   func()
		want []string
	}{
		{"xadd", func() { s.XAdd(x, f, XAddOptions{}) }, []string{"x"}},
		{"xadd refused", func() { s.XAdd(x, f, XAddOptions{ID: StreamID{1, 1}, IDGiven: true, SeqGiven: true}) }, nil},
		{"xadd nomkstream of no key", func() { s.XAdd([]byte("none"), f, XAddOptions{NoMkStream: true}) }, nil},
		{"xrange", func() { s.XRange(x, StreamID{}, MaxStreamID, 0, false) }, nil},
		{"xlen", func() { s.XLen(x) }, nil},
		{"xdel of no such id", func() { s.XDel(x, []StreamID{{1, 1}}) }, nil},
		{"xtrim with nothing to trim", func() { s.XTrim(x, XTrimOptions{Strategy: TrimMaxLen, MaxLen: 5}) }, nil},
		{"xtrim", func() { s.XTrim(x, XTrimOptions{Strategy: TrimMaxLen, MaxLen: 0}) }, []string{"x"}},
		{"xadd, trimming", func() { s.XAdd(x, f, XAddOptions{Trim: XTrimOptions{Strategy: TrimMaxLen}}) }, []string{"x"}},
		{"zadd", func() { s.ZAdd([]byte("a"), []ZMember{{"m", 1}}, ZAddOptions{}) }, []string{"a"}},
		{"zunion", func() { s.ZSetOp([][]byte{[]byte("a")}, ZSetOp{Op: ZUnion}) }, nil},
		{"zunionstore", func() { s.ZSetOpStore([]byte("d"), [][]byte{[]byte("a")}, ZSetOp{Op: ZUnion}) }, []string{"d"}},
		{"zinterstore, empty, deletes", func() { s.ZSetOpStore([]byte("d"), [][]byte{[]byte("a"), []byte("none")}, ZSetOp{Op: ZInter}) }, []string{"d"}},
		{"zinterstore of nothing to no key", func() { s.ZSetOpStore([]byte("d"), [][]byte{[]byte("none")}, ZSetOp{Op: ZInter}) }, nil},
	} {
		heard = nil
		tc.op()
		if heard = slices.Compact(heard); !slices.Equal(heard, tc.want) {
			t.Errorf("%s: heard %q, want %q", tc.name, heard, tc.want)
		}
	}
}

// TestNoChangeIsNoNotice: as in Redis, a hash or set command that changes
// nothing (HSETNX of a field there, HDEL, SREM of absent ones, SADD of
// members there, SPOP of 0) is not a write: no WATCH fails, no near-cache
// copy is dropped.
func TestNoChangeIsNoNotice(t *testing.T) {
	var heard []string
	s := New(Config{Changed: func(key string, flushed bool) { heard = append(heard, key) }})
	s.HSet([]byte("h"), [][]byte{[]byte("f"), []byte("v")}, false)
	s.SAdd([]byte("s"), [][]byte{[]byte("m")})
	heard = nil
	s.HSet([]byte("h"), [][]byte{[]byte("f"), []byte("w")}, true)
	s.HDel([]byte("h"), [][]byte{[]byte("nope")})
	s.SAdd([]byte("s"), [][]byte{[]byte("m")})
	s.SRem([]byte("s"), [][]byte{[]byte("nope")})
	s.SPop([]byte("s"), 0)
	if heard != nil {
		t.Fatalf("heard %q", heard)
	}
}
