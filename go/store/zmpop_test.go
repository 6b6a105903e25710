package store

import (
	"slices"
	"testing"
)

func TestZMPopTakesFromTheFirstNonEmptySet(t *testing.T) {
	s := New(Config{})
	s.ZAdd(b("z2"), []ZMember{{"a", 1}, {"b", 2}, {"c", 3}}, ZAddOptions{})
	p, err := s.ZMPop([][]byte{b("z1"), b("z2")}, false, 2)
	if err != nil || p == nil || p.Key != "z2" || !slices.Equal(zmemberNames(p.Members), []string{"c=3", "b=2"}) {
		t.Fatalf("ZMPop MAX 2 = %+v, %v", p, err)
	}
	if p, _ := s.ZMPop([][]byte{b("z1")}, true, 1); p != nil {
		t.Fatalf("ZMPop of a missing key = %+v", p)
	}
}

// A BZMPOP waiter takes up to its count; cancelled after they reached it,
// it puts them all back.
func TestBZMPopWaiterTakesItsCountAndCancelPutsThemBack(t *testing.T) {
	s := New(Config{})
	_, w, err := s.BZMPop([][]byte{b("k")}, true, 2, nil)
	if w == nil || err != nil {
		t.Fatalf("BZMPop on no key = %v, %v; want a waiter", w, err)
	}
	s.ZAdd(b("k"), []ZMember{{"a", 1}, {"b", 2}, {"c", 3}}, ZAddOptions{})
	s.ServeReady()
	if len(w.C) != 1 {
		t.Fatal("ZADD did not serve the waiter")
	}
	s.Cancel(w)
	got, _ := s.ZRange(b("k"), ZRange{By: ByRank, Stop: -1, Count: All})
	if !slices.Equal(zmemberNames(got), []string{"a=1", "b=2", "c=3"}) {
		t.Errorf("after the cancelled wait the set is %v; want both members back", zmemberNames(got))
	}
	_, w, _ = s.BZMPop([][]byte{b("j")}, true, 2, nil)
	s.ZAdd(b("j"), []ZMember{{"x", 1}, {"y", 2}, {"z", 3}}, ZAddOptions{})
	s.ServeReady()
	if p := <-w.C; !slices.Equal(zmemberNames(p.Members), []string{"x=1", "y=2"}) {
		t.Errorf("the waiter got %+v; want x and y", p)
	}
}
