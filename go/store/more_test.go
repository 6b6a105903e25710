package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func strs(vs [][]byte) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func listOf(t *testing.T, s *Store, key string) []string {
	t.Helper()
	vs, err := s.LRange([]byte(key), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	return strs(vs)
}

// sameAsFresh checks that s accounts exactly the memory of a store into
// which key's list was pushed as it now is: edits give back what they free.
func sameAsFresh(t *testing.T, s *Store, key string) {
	t.Helper()
	fresh := New(Config{})
	for _, v := range listOf(t, s, key) {
		fresh.Push([]byte(key), [][]byte{[]byte(v)}, false)
	}
	if got, want := s.Stats().UsedMemory, fresh.Stats().UsedMemory; got != want {
		t.Fatalf("used %d after the edits; a fresh list of the same elements uses %d", got, want)
	}
}

func TestListEditsInTheMiddle(t *testing.T) {
	s := New(Config{})
	k := []byte("l")
	s.Push(k, [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("b"), []byte("a")}, false)
	s.Pop(k, true, 1) // a head that has moved: edits must see the ring's order, not the buffer's
	s.Push(k, [][]byte{[]byte("z")}, true)
	if n, err := s.LInsert(k, true, []byte("c"), []byte("long value")); n != 6 || err != nil {
		t.Fatalf("LInsert = %d, %v", n, err)
	}
	if err := s.LSet(k, -1, []byte("A")); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.LRem(k, -1, []byte("b")); n != 1 {
		t.Fatalf("LRem -1 b removed %d", n)
	}
	if got, want := listOf(t, s, "l"), []string{"z", "b", "long value", "c", "A"}; !slices.Equal(got, want) {
		t.Fatalf("list %q; want %q", got, want)
	}
	sameAsFresh(t, s, "l")
	if err := s.LTrim(k, 1, -2); err != nil {
		t.Fatal(err)
	}
	if got, want := listOf(t, s, "l"), []string{"b", "long value", "c"}; !slices.Equal(got, want) {
		t.Fatalf("after LTRIM 1 -2: %q; want %q", got, want)
	}
	sameAsFresh(t, s, "l")
	if at, _ := s.LPos(k, []byte("c"), LPosOptions{Rank: -1, Count: 1}); !slices.Equal(at, []int{2}) {
		t.Fatalf("LPos c from the tail = %v", at)
	}
	if err := s.LTrim(k, 3, 1); err != nil || s.Exists(k) {
		t.Fatalf("an empty LTRIM range leaves the key: exists %v, err %v", s.Exists(k), err)
	}
	if s.Stats().UsedMemory != 0 {
		t.Fatalf("used %d with no keys", s.Stats().UsedMemory)
	}
}

func TestLSetPastTheBoundIsRefused(t *testing.T) {
	s := New(Config{MaxMemory: 4096, NoEvict: true})
	s.Push([]byte("l"), [][]byte{[]byte("a")}, false)
	if err := s.LSet([]byte("l"), 0, make([]byte, 8192)); !errors.Is(err, ErrOOM) {
		t.Fatalf("LSet of 8 KiB under a 4 KiB bound = %v; want ErrOOM", err)
	}
	if got := listOf(t, s, "l"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("the refused LSET changed the list: %q", got)
	}
}

// RENAME moves any type with its deadline; COPY clones it, so that the
// copy and the original change apart; both mark both keys for WATCH.
func TestRenameAndCopyMoveEveryTypeWithItsDeadline(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New(Config{Now: func() time.Time { return now }})
	s.Set([]byte("str"), []byte("v"), SetOptions{TTL: time.Minute})
	s.Push([]byte("list"), [][]byte{[]byte("x")}, false)
	w := s.Watch(nil, [][]byte{[]byte("str"), []byte("dst")})
	if ok, err := s.Rename([]byte("str"), []byte("dst"), false); !ok || err != nil {
		t.Fatalf("Rename = %v, %v", ok, err)
	}
	if !s.Changed(w) {
		t.Fatal("RENAME did not mark the watched keys changed")
	}
	if v, ok, _ := s.Get([]byte("dst")); !ok || string(v) != "v" || s.Exists([]byte("str")) {
		t.Fatalf("after RENAME: dst %q %v, str exists %v", v, ok, s.Exists([]byte("str")))
	}
	now = now.Add(2 * time.Minute)
	if s.Exists([]byte("dst")) {
		t.Fatal("the renamed key lost its deadline")
	}
	if ok, err := s.Copy([]byte("list"), []byte("copy"), false); !ok || err != nil {
		t.Fatalf("Copy = %v, %v", ok, err)
	}
	s.Push([]byte("copy"), [][]byte{[]byte("only in the copy")}, false)
	if got := listOf(t, s, "list"); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("a push to the copy reached the original: %q", got)
	}
	if _, err := s.Rename([]byte("gone"), []byte("x"), false); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("Rename of a missing key = %v", err)
	}
	if _, err := s.Copy([]byte("list"), []byte("list"), true); !errors.Is(err, ErrSameObject) {
		t.Fatalf("Copy onto itself = %v", err)
	}
}

func TestStringEditsKeepTheDeadlineAndTheLimit(t *testing.T) {
	s := New(Config{})
	s.Set([]byte("k"), []byte("ab"), SetOptions{TTL: time.Hour})
	if n, _ := s.Append([]byte("k"), []byte("cd")); n != 4 {
		t.Fatalf("Append = %d", n)
	}
	if n, _ := s.SetRange([]byte("k"), 6, []byte("x")); n != 7 {
		t.Fatalf("SetRange = %d", n)
	}
	if v, _, _ := s.Get([]byte("k")); string(v) != "abcd\x00\x00x" {
		t.Fatalf("value %q", v)
	}
	if s.Stats().Expiring != 1 {
		t.Fatal("APPEND or SETRANGE dropped the deadline")
	}
	if _, err := s.SetRange([]byte("k"), maxString, []byte("x")); !errors.Is(err, ErrStringSize) {
		t.Fatalf("SetRange past 512 MiB = %v", err)
	}
	if v, _ := s.GetRange([]byte("k"), -3, -1); string(v) != "\x00\x00x" {
		t.Fatalf("GetRange -3 -1 = %q", v)
	}
}

func TestRandomKeySkipsExpiredKeys(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New(Config{Now: func() time.Time { return now }})
	for _, k := range []string{"a", "b", "c"} {
		s.Set([]byte(k), []byte("v"), SetOptions{TTL: time.Second})
	}
	s.Set([]byte("live"), []byte("v"), SetOptions{})
	now = now.Add(time.Minute)
	for range 10 {
		if k, ok := s.RandomKey(); !ok || k != "live" {
			t.Fatalf("RandomKey = %q, %v; want the one live key", k, ok)
		}
	}
	s.Del([]byte("live"))
	if k, ok := s.RandomKey(); ok {
		t.Fatalf("RandomKey of an empty store = %q", k)
	}
}

// A BLMPOP waiter takes up to its count from the first push; a wait given
// up after the values reached it puts them all back, in their order.
func TestBMPopTakesCountAndPutsAllBack(t *testing.T) {
	for _, left := range []bool{true, false} {
		s := New(Config{})
		p, w, err := s.BMPop([][]byte{[]byte("a"), []byte("l")}, left, 2, nil)
		if p != nil || w == nil || err != nil {
			t.Fatalf("BMPop on empty lists = %v, %v, %v; want a waiter", p, w, err)
		}
		s.Push([]byte("l"), [][]byte{[]byte("1"), []byte("2"), []byte("3")}, false)
		s.ServeReady()
		got := <-w.C
		want := []string{"1", "2"}
		if !left {
			want = []string{"3", "2"}
		}
		if got.Key != "l" || !slices.Equal(strs(got.Values), want) {
			t.Fatalf("left %v: the waiter got %q %q; want l %q", left, got.Key, strs(got.Values), want)
		}
		w2 := &Waiter{c: make(chan Popped, 1), left: left, count: 2}
		w2.c <- got
		s.Cancel(w2)
		if l := listOf(t, s, "l"); !slices.Equal(l, []string{"1", "2", "3"}) {
			t.Fatalf("left %v: after the wait was given up the list is %q", left, l)
		}
	}
}
