package store

import (
	"fmt"
	"slices"
	"testing"
)

func bs(names ...string) [][]byte {
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = b(n)
	}
	return out
}

func sorted(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return out
}

func TestSetMembers(t *testing.T) {
	s := New(Config{})
	if n, _ := s.SAdd(b("s"), bs("a", "b", "a", "c")); n != 3 {
		t.Fatalf("SAdd = %d; want 3", n)
	}
	if n, _ := s.SAdd(b("s"), bs("c", "d")); n != 1 {
		t.Fatalf("SAdd = %d; want 1", n)
	}
	if got, _ := s.SMembers(b("s")); !slices.Equal(sorted(got), []string{"a", "b", "c", "d"}) {
		t.Fatalf("SMembers = %q", got)
	}
	if got, _ := s.SMIsMember(b("s"), bs("a", "x", "d")); !slices.Equal(got, []bool{true, false, true}) {
		t.Fatalf("SMIsMember = %v", got)
	}
	if n, _ := s.SRem(b("s"), bs("a", "x", "a")); n != 1 {
		t.Fatalf("SRem = %d; want 1", n)
	}
	if n, _ := s.SCard(b("s")); n != 3 || s.Type(b("s")) != "set" {
		t.Fatalf("SCard = %d, Type %q", n, s.Type(b("s")))
	}
	s.SRem(b("s"), bs("b", "c", "d"))
	if s.Exists(b("s")) || s.Stats().UsedMemory != 0 {
		t.Fatal("an emptied set must be deleted, its memory given back")
	}
	s.Set(b("str"), b("x"), SetOptions{})
	if _, err := s.SAdd(b("str"), bs("a")); err != ErrWrongType {
		t.Fatalf("SAdd on a string: %v", err)
	}
	if _, err := s.SMembers(b("str")); err != ErrWrongType {
		t.Fatalf("SMembers on a string: %v", err)
	}
}

func randMembers(s *Store, key string, count int, repeat bool) []string {
	var got []string
	s.SRandMember(b(key), count, repeat, func(total int, m string) bool {
		got = append(got, m)
		return true
	})
	return got
}

func TestSPopAndSRandMember(t *testing.T) {
	s := New(Config{})
	if got, err := s.SPop(b("none"), 1); got != nil || err != nil {
		t.Fatal("SPop of an absent key")
	}
	var all []string
	for i := range 20 {
		all = append(all, fmt.Sprintf("m%02d", i))
	}
	s.SAdd(b("s"), bs(all...))
	if got := randMembers(s, "s", 5, false); len(got) != 5 || len(slices.Compact(sorted(got))) != 5 {
		t.Fatalf("SRandMember 5 = %q; want 5 distinct", got)
	}
	if got := randMembers(s, "s", 30, false); !slices.Equal(sorted(got), all) {
		t.Fatalf("SRandMember 30 of 20 = %q; want them all", got)
	}
	if got := randMembers(s, "s", 500, true); len(got) != 500 || !slices.Equal(slices.Compact(sorted(got)), all) {
		t.Fatal("SRandMember with repeats: 500 picks, every member among them (p of a miss < 1e-10)")
	}
	if got, _ := s.SPop(b("s"), 0); got == nil || len(got) != 0 {
		t.Fatalf("SPop 0 = %q; want none, from a present key", got)
	}
	popped, _ := s.SPop(b("s"), 15)
	rest, _ := s.SMembers(b("s"))
	if len(popped) != 15 || len(rest) != 5 || !slices.Equal(sorted(append(popped, rest...)), all) {
		t.Fatalf("SPop 15 took %q, left %q", popped, rest)
	}
	if popped, _ = s.SPop(b("s"), 10); len(popped) != 5 || s.Exists(b("s")) {
		t.Fatalf("SPop of more than there are took %q; the key must go", popped)
	}
}

func TestSMove(t *testing.T) {
	s := New(Config{})
	s.SAdd(b("a"), bs("x", "y"))
	s.HSet(b("h"), bs("f", "v"), false)
	if ok, err := s.SMove(b("a"), b("h"), b("x")); ok || err != ErrWrongType {
		t.Fatalf("SMove to a hash: %v, %v", ok, err)
	}
	if ok, err := s.SMove(b("none"), b("h"), b("x")); ok || err != nil {
		t.Fatalf("SMove from nothing: %v, %v (Redis checks nothing else)", ok, err)
	}
	if ok, _ := s.SMove(b("a"), b("a"), b("x")); !ok {
		t.Fatal("SMove to itself of a member: true")
	}
	if ok, _ := s.SMove(b("a"), b("b"), b("nope")); ok || s.Exists(b("b")) {
		t.Fatal("SMove of a non-member moved something")
	}
	s.SMove(b("a"), b("b"), b("x"))
	s.SMove(b("a"), b("b"), b("y"))
	if got, _ := s.SMembers(b("b")); !slices.Equal(sorted(got), []string{"x", "y"}) || s.Exists(b("a")) {
		t.Fatalf("b = %q, a exists %v", got, s.Exists(b("a")))
	}
}

func TestSetAlgebra(t *testing.T) {
	s := New(Config{})
	s.SAdd(b("a"), bs("1", "2", "3", "4"))
	s.SAdd(b("b"), bs("3", "4", "5"))
	s.SAdd(b("c"), bs("4", "6"))
	s.HSet(b("h"), bs("f", "v"), false)
	for _, tc := range []struct {
		op   SetOp
		keys []string
		want []string
	}{
		{Inter, []string{"a", "b"}, []string{"3", "4"}},
		{Inter, []string{"a", "b", "c"}, []string{"4"}},
		{Inter, []string{"a", "none"}, nil},
		{Inter, []string{"a"}, []string{"1", "2", "3", "4"}},
		{Union, []string{"a", "b", "none", "c"}, []string{"1", "2", "3", "4", "5", "6"}},
		{Diff, []string{"a", "b"}, []string{"1", "2"}},
		{Diff, []string{"a", "none", "c"}, []string{"1", "2", "3"}},
		{Diff, []string{"none", "a"}, nil},
	} {
		got, err := s.SCombine(tc.op, bs(tc.keys...))
		if err != nil || !slices.Equal(sorted(got), tc.want) {
			t.Errorf("op %d of %q = %q, %v; want %q", tc.op, tc.keys, got, err, tc.want)
		}
	}
	for _, op := range []SetOp{Inter, Union, Diff} {
		if _, err := s.SCombine(op, bs("none", "a", "h")); err != ErrWrongType {
			t.Errorf("op %d with a hash among the keys: %v (every key is checked)", op, err)
		}
	}
	if n, _ := s.SInterCard(bs("a", "b"), 0); n != 2 {
		t.Fatalf("SInterCard = %d", n)
	}
	if n, _ := s.SInterCard(bs("a", "b"), 1); n != 1 {
		t.Fatalf("SInterCard limit 1 = %d", n)
	}
	// STORE replaces what the destination held, deadline and type included.
	s.Set(b("dst"), b("string"), SetOptions{TTL: 100e9})
	if n, err := s.SCombineStore(Union, b("dst"), bs("b", "c")); n != 4 || err != nil {
		t.Fatalf("SUNIONSTORE = %d, %v", n, err)
	}
	if _, _, forever := s.TTL(b("dst")); !forever || s.Type(b("dst")) != "set" {
		t.Fatal("the stored set must be a new key, without a deadline")
	}
	if n, _ := s.SCombineStore(Inter, b("a"), bs("a", "b")); n != 2 {
		t.Fatalf("SINTERSTORE onto a source = %d", n)
	}
	if got, _ := s.SMembers(b("a")); !slices.Equal(sorted(got), []string{"3", "4"}) {
		t.Fatalf("a = %q", got)
	}
	if n, _ := s.SCombineStore(Inter, b("dst"), bs("a", "none")); n != 0 || s.Exists(b("dst")) {
		t.Fatal("an empty result deletes the destination")
	}
	before := s.Stats().UsedMemory
	s.SCombineStore(Union, b("u"), bs("a", "b", "c"))
	s.Del(b("u"))
	if s.Stats().UsedMemory != before {
		t.Fatalf("a stored set and its deletion left %d bytes counted", s.Stats().UsedMemory-before)
	}
}

func TestSScanCoversEveryMemberOnce(t *testing.T) {
	s := New(Config{})
	var all []string
	for i := range 500 {
		all = append(all, fmt.Sprintf("m%03d", i))
	}
	s.SAdd(b("s"), bs(all...))
	var seen []string
	cursor := uint64(0)
	for {
		next, found, err := s.SScan(b("s"), cursor, "*", 10)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, found...)
		if next == 0 {
			break
		}
		cursor = next
	}
	if !slices.Equal(sorted(seen), all) {
		t.Fatalf("SScan returned %d members; want each of the 500 once", len(seen))
	}
}

func TestSetMemoryBound(t *testing.T) {
	const bound = 40000
	s := New(Config{MaxMemory: bound})
	for i := range 2000 {
		if _, err := s.SAdd(b(fmt.Sprintf("s%d", i%10)), bs(fmt.Sprintf("member-%06d", i))); err != nil {
			t.Fatal(err)
		}
		if used := s.Stats().UsedMemory; used > bound {
			t.Fatalf("used %d over the bound %d", used, bound)
		}
	}
	if s.Stats().Evictions == 0 {
		t.Fatal("nothing evicted")
	}
}
