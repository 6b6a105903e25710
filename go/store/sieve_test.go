package store

import (
	"math/rand"
	"slices"
	"testing"
)

// listSieve is SIEVE as the paper draws it, over a plain ordered slice
// that it searches and shifts: the model the compact queue must match.
type listSieve struct {
	q    []*entry // oldest first
	hand *entry   // next to examine; nil means the oldest
}

func (l *listSieve) at(e *entry) int {
	for i, x := range l.q {
		if x == e {
			return i
		}
	}
	panic("entry not queued")
}

// newer returns the entry after e, or nil past the newest.
func (l *listSieve) newer(e *entry) *entry {
	if i := l.at(e); i+1 < len(l.q) {
		return l.q[i+1]
	}
	return nil
}

func (l *listSieve) unlink(e *entry) {
	if l.hand == e {
		l.hand = l.newer(e)
	}
	i := l.at(e)
	l.q = append(l.q[:i], l.q[i+1:]...)
}

func (l *listSieve) victim(keep *entry) *entry {
	if len(l.q) == 0 || (len(l.q) == 1 && l.q[0] == keep) {
		return nil
	}
	for {
		e := l.hand
		if e == nil {
			e = l.q[0]
		}
		l.hand = l.newer(e)
		switch {
		case e == keep:
		case !e.is(visited):
			return e
		default:
			e.flags &^= visited
		}
	}
}

// TestSieveMatchesListModel drives the queue and the model with the same
// random pushes, reads, removals and evictions: every victim must agree.
func TestSieveMatchesListModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 50; round++ {
		var q sieve
		var l listSieve
		var live []int           // ids of queued entries
		var mine, model []*entry // the same id's entry in each
		for op := 0; op < 2000; op++ {
			switch r := rng.Intn(10); {
			case r < 4 || len(live) == 0:
				mine, model = append(mine, &entry{}), append(model, &entry{})
				live = append(live, len(mine)-1)
				q.push(mine[len(mine)-1])
				l.q = append(l.q, model[len(model)-1])
			case r < 6:
				id := live[rng.Intn(len(live))]
				mine[id].flags |= visited
				model[id].flags |= visited
			case r < 8:
				i := rng.Intn(len(live))
				id := live[i]
				live = append(live[:i], live[i+1:]...)
				q.unlink(mine[id])
				l.unlink(model[id])
			default:
				keep := -1
				if rng.Intn(2) == 0 {
					keep = live[rng.Intn(len(live))]
				}
				var km, kl *entry
				if keep >= 0 {
					km, kl = mine[keep], model[keep]
				}
				got, want := q.victim(km), l.victim(kl)
				if (got == nil) != (want == nil) {
					t.Fatalf("round %d op %d: victim %v, model %v", round, op, got, want)
				}
				if got == nil {
					continue
				}
				id := -1
				for i, e := range mine {
					if e == got {
						id = i
					}
				}
				if model[id] != want {
					t.Fatalf("round %d op %d: evicted a different entry than the model", round, op)
				}
				for i, x := range live {
					if x == id {
						live = append(live[:i], live[i+1:]...)
						break
					}
				}
				q.unlink(got)
				l.unlink(want)
			}
			for i, e := range q.q {
				if e != nil && int(e.slot) != i {
					t.Fatalf("entry at %d says slot %d", i, e.slot)
				}
			}
		}
	}
}

// TestSieveHandWrapsPastNewest: when the entry under the hand was the
// newest and goes away, the hand returns to the oldest, so an entry pushed
// afterwards is not examined first.
func TestSieveHandWrapsPastNewest(t *testing.T) {
	var q sieve
	es := make([]*entry, 6)
	for i := range es {
		es[i] = &entry{}
	}
	for _, e := range es[:5] {
		q.push(e)
	}
	for _, e := range es[:3] {
		e.flags |= visited
	}
	if v := q.victim(nil); v != es[3] { // passes es[0..2], clearing their marks
		t.Fatal("first victim should be es[3]")
	}
	q.unlink(es[3])
	q.unlink(es[4]) // under the hand and the newest
	q.push(es[5])
	if v := q.victim(nil); v != es[0] {
		t.Fatal("the hand should start over at the oldest entry")
	}
}

// TestSieveCompactionKeepsOrderAndHand removes most entries, forcing
// compaction, and checks the survivors' order, slots and the hand.
func TestSieveCompactionKeepsOrderAndHand(t *testing.T) {
	var q sieve
	es := make([]*entry, 100)
	for i := range es {
		es[i] = &entry{}
		q.push(es[i])
	}
	for i := 0; i < 40; i++ {
		es[i].flags |= visited
	}
	if v := q.victim(nil); v != es[40] {
		t.Fatal("victim should be the oldest unmarked entry")
	}
	// The hand is now on es[41]. Remove every entry but multiples of 7.
	var kept []*entry
	for i, e := range es {
		if i%7 == 0 {
			kept = append(kept, e)
		} else {
			q.unlink(e)
		}
	}
	if len(q.q) >= len(es) {
		t.Fatal("never compacted")
	}
	var got []*entry
	for i, e := range q.q {
		if e != nil {
			got = append(got, e)
			if int(e.slot) != i {
				t.Fatalf("entry at %d says slot %d", i, e.slot)
			}
		}
	}
	if !slices.Equal(got, kept) {
		t.Fatal("survivors out of order")
	}
	if q.q[q.hand] != es[42] { // es[41] went; the hand moved to the next kept
		t.Fatal("the hand moved")
	}
}
