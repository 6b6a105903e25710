package store

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func xadd(t *testing.T, s *Store, key string, opt XAddOptions, fields ...string) StreamID {
	t.Helper()
	var fs [][]byte
	for _, f := range fields {
		fs = append(fs, []byte(f))
	}
	id, _, err := s.XAdd([]byte(key), fs, opt)
	if err != nil {
		t.Fatalf("XAdd(%s, %+v): %v", key, opt, err)
	}
	return id
}

func explicit(ms, seq uint64) XAddOptions {
	return XAddOptions{ID: StreamID{ms, seq}, IDGiven: true, SeqGiven: true}
}

func xlen(s *Store, key string) int {
	n, _, _ := s.XLen([]byte(key))
	return n
}

// IDs only grow: "*" takes the clock's milliseconds unless the top item is
// ahead of it, "ms-*" the next sequence in ms, and an explicit ID must be
// above the highest the stream ever held, deleted or not.
func TestStreamIDs(t *testing.T) {
	now := time.UnixMilli(5000)
	s := New(Config{Now: func() time.Time { return now }})
	f := []string{"f", "v"}
	if id := xadd(t, s, "s", XAddOptions{}, f...); id != (StreamID{5000, 0}) {
		t.Errorf("* = %v; want 5000-0", id)
	}
	if id := xadd(t, s, "s", XAddOptions{}, f...); id != (StreamID{5000, 1}) {
		t.Errorf("* in the same ms = %v; want 5000-1", id)
	}
	if id := xadd(t, s, "s", XAddOptions{ID: StreamID{Ms: 5000}, IDGiven: true}, f...); id != (StreamID{5000, 2}) {
		t.Errorf("5000-* = %v; want 5000-2", id)
	}
	if id := xadd(t, s, "s", XAddOptions{ID: StreamID{Ms: 7000}, IDGiven: true}, f...); id != (StreamID{7000, 0}) {
		t.Errorf("7000-* = %v; want 7000-0", id)
	}
	if id := xadd(t, s, "s", XAddOptions{}, f...); id != (StreamID{7000, 1}) {
		t.Errorf("* behind the top item = %v; want 7000-1", id)
	}
	s.XDel([]byte("s"), []StreamID{{7000, 1}})
	for _, tc := range []struct {
		opt  XAddOptions
		want error
	}{
		{explicit(7000, 1), ErrStreamID}, // deleted, but it was the top item
		{explicit(6000, 9), ErrStreamID},
		{XAddOptions{ID: StreamID{Ms: 6000}, IDGiven: true}, ErrStreamID},
		{explicit(0, 0), ErrStreamZeroID},
	} {
		if _, _, err := s.XAdd([]byte("s"), [][]byte{[]byte("f"), []byte("v")}, tc.opt); err != tc.want {
			t.Errorf("XAdd(%+v) = %v; want %v", tc.opt, err, tc.want)
		}
	}
	xadd(t, s, "top", explicit(math.MaxUint64, math.MaxUint64), f...)
	if _, _, err := s.XAdd([]byte("top"), [][]byte{[]byte("f"), []byte("v")}, XAddOptions{}); err != ErrStreamExhausted {
		t.Errorf("XAdd after the last possible ID = %v; want ErrStreamExhausted", err)
	}
	if _, ok, err := s.XAdd([]byte("none"), [][]byte{[]byte("f"), []byte("v")}, XAddOptions{NoMkStream: true}); ok || err != nil || s.Exists([]byte("none")) {
		t.Errorf("NOMKSTREAM made a stream: ok %v, err %v", ok, err)
	}
	s.Set([]byte("str"), []byte("v"), SetOptions{})
	if _, _, err := s.XAdd([]byte("str"), [][]byte{[]byte("f"), []byte("v")}, XAddOptions{}); err != ErrWrongType {
		t.Errorf("XAdd to a string = %v; want ErrWrongType", err)
	}
}

// Trimming keeps the newest entries (MAXLEN) or those from an ID on
// (MINID), at most Limit going at once; an emptied stream stays, and keeps
// refusing IDs below its last.
func TestStreamTrim(t *testing.T) {
	s := New(Config{})
	for i := uint64(1); i <= 200; i++ {
		xadd(t, s, "s", explicit(i, 0), "f", "v")
	}
	if n, _ := s.XTrim([]byte("s"), XTrimOptions{Strategy: TrimMaxLen, MaxLen: 150}); n != 50 || xlen(s, "s") != 150 {
		t.Errorf("MAXLEN 150 of 200 trimmed %d, left %d", n, xlen(s, "s"))
	}
	if n, _ := s.XTrim([]byte("s"), XTrimOptions{Strategy: TrimMaxLen, MaxLen: 10, Approx: true, Limit: 20}); n != 20 {
		t.Errorf("MAXLEN ~ 10 LIMIT 20 trimmed %d; want 20", n)
	}
	if n, _ := s.XTrim([]byte("s"), XTrimOptions{Strategy: TrimMinID, MinID: StreamID{100, 1}}); n != 30 {
		t.Errorf("MINID 100-1 trimmed %d; want 30 (71..100)", n)
	}
	if got, _ := s.XRange([]byte("s"), StreamID{}, MaxStreamID, 1, false); len(got) != 1 || got[0].ID != (StreamID{101, 0}) {
		t.Errorf("oldest after trimming = %v; want 101-0", got)
	}
	if got, _ := s.XRange([]byte("s"), StreamID{}, MaxStreamID, 2, true); len(got) != 2 || got[0].ID != (StreamID{200, 0}) || got[1].ID != (StreamID{199, 0}) {
		t.Errorf("newest two, reversed = %v", got)
	}
	id := xadd(t, s, "s", XAddOptions{Trim: XTrimOptions{Strategy: TrimMaxLen, MaxLen: 0}}, "f", "v")
	if xlen(s, "s") != 0 || !s.Exists([]byte("s")) || s.Type([]byte("s")) != "stream" {
		t.Errorf("XADD MAXLEN 0: len %d, exists %v; want an empty stream", xlen(s, "s"), s.Exists([]byte("s")))
	}
	if _, _, err := s.XAdd([]byte("s"), [][]byte{[]byte("f"), []byte("v")}, explicit(id.Ms, id.Seq)); err != ErrStreamID {
		t.Errorf("the emptied stream forgot its last ID: %v", err)
	}
}

// Every entry counts for its fields' bytes and its overhead; trimming and
// deleting give it back, and adding evicts other keys to stay in bounds.
func TestStreamMemoryIsAccountedPerEntry(t *testing.T) {
	s := New(Config{})
	s.Set([]byte("other"), []byte("v"), SetOptions{})
	base := s.Stats().UsedMemory
	xadd(t, s, "s", explicit(1, 0), "f", "v") // the key itself
	empty := s.Stats().UsedMemory - base - (streamEntryOverhead + 2 + 2*fieldOverhead)
	for i := uint64(2); i <= 40; i++ {
		xadd(t, s, "s", explicit(i, 0), "field", fmt.Sprintf("value-%02d", i))
	}
	if grown := s.Stats().UsedMemory - base - empty; grown != 40*(streamEntryOverhead+2*fieldOverhead)+2+int64(39*len("field"+"value-02")) {
		t.Errorf("40 entries count for %d bytes", grown)
	}
	s.XDel([]byte("s"), []StreamID{{1, 0}, {2, 0}})
	s.XTrim([]byte("s"), XTrimOptions{Strategy: TrimMaxLen, MaxLen: 0})
	if got := s.Stats().UsedMemory; got != base+empty || !s.Exists([]byte("s")) {
		t.Errorf("emptied: used %d, exists %v; want %d, still there", got, s.Exists([]byte("s")), base+empty)
	}

	bounded := New(Config{MaxMemory: 4000})
	bounded.Set([]byte("old"), make([]byte, 1000), SetOptions{})
	for i := uint64(1); i <= 20; i++ {
		xadd(t, bounded, "s", explicit(i, 0), "field", "a value of some length")
	}
	if used := bounded.Stats().UsedMemory; bounded.Exists([]byte("old")) || used > 4000 {
		t.Errorf("20 entries under a 4000-byte bound: used %d, the old string still there: %v", used, bounded.Exists([]byte("old")))
	}
	noEvict := New(Config{MaxMemory: 300, NoEvict: true})
	if _, _, err := noEvict.XAdd([]byte("s"), [][]byte{make([]byte, 400), []byte("v")}, XAddOptions{}); err != ErrOOM {
		t.Errorf("XAdd past a noeviction bound = %v; want ErrOOM", err)
	}
}

// A copy shares no entries' index with the original.
func TestStreamCloneSharesNothing(t *testing.T) {
	x := newStream()
	x.entries.Set(StreamEntry{ID: StreamID{1, 0}, Fields: [][]byte{[]byte("f"), []byte("v")}})
	c := x.clone().(*stream)
	c.entries.Set(StreamEntry{ID: StreamID{2, 0}})
	if x.len() != 1 || c.len() != 2 {
		t.Errorf("len: original %d, copy %d; want 1 and 2", x.len(), c.len())
	}
}
