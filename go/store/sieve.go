package store

// sieve is the eviction queue of SIEVE (Zhang et al., NSDI '24): new
// entries enter at the newest end; a read only marks an entry visited; to
// evict, a hand walks from the oldest entry towards the newest, giving each
// visited entry a second chance (clearing its mark) and evicting the first
// unvisited one. The hand stays where it stopped and, past the newest
// entry, goes back to the oldest, so popular entries are passed over
// without being moved. Lookups never touch the queue.
//
// The queue is a slice, oldest first, rather than the usual doubly linked
// list: links cost every entry two pointers, the slice one pointer per slot
// plus the entry's 4-byte slot index, which is what lets an entry fit in 24
// bytes instead of 48. Removing an entry leaves a nil hole that the hand
// passes over. Once holes are the majority the slice is compacted, keeping
// the entries' order, so removal costs O(1) amortized (compacting a
// million slots takes a few milliseconds).
type sieve struct {
	q     []*entry // oldest first; nil where an entry was removed
	holes int      // number of nils in q
	// hand is the index of the next entry the hand examines. It is kept on
	// an entry, or at 0 when no entry is newer than where it stopped: that
	// is, it wraps as soon as it passes the newest entry, so an entry pushed
	// later waits for the hand's next round, as at the head of a list.
	hand int
}

// len returns the number of entries in the queue.
func (q *sieve) len() int { return len(q.q) - q.holes }

// push adds e as the newest entry.
func (q *sieve) push(e *entry) {
	e.slot = uint32(len(q.q))
	q.q = append(q.q, e)
}

// unlink removes e from the queue, moving the hand off it first.
func (q *sieve) unlink(e *entry) {
	q.q[e.slot] = nil
	q.holes++
	if int(e.slot) == q.hand {
		q.settle()
	}
	if q.holes > len(q.q)/2 {
		q.compact()
	}
}

// settle moves the hand from a hole to the next newer entry, or back to 0
// if there is none.
func (q *sieve) settle() {
	for q.hand < len(q.q) && q.q[q.hand] == nil {
		q.hand++
	}
	if q.hand == len(q.q) {
		q.hand = 0
	}
}

// compact closes the holes, keeping the entries' order and the hand on the
// entry it was on. Memory left over after mass removals is given back.
func (q *sieve) compact() {
	n, hand := 0, 0
	for i, e := range q.q {
		if i == q.hand {
			hand = n
		}
		if e != nil {
			e.slot = uint32(n)
			q.q[n] = e
			n++
		}
	}
	clear(q.q[n:])
	q.q, q.holes, q.hand = q.q[:n], 0, hand
	if q.hand == n {
		q.hand = 0
	}
	if cap(q.q) > 4*n {
		q.q = append([]*entry(nil), q.q...)
	}
}

// victim moves the hand to the next entry to evict and returns it, or nil
// if nothing but keep is left. It ends within two rounds: the first round
// clears every mark it meets.
func (q *sieve) victim(keep *entry) *entry {
	if n := q.len(); n == 0 || (n == 1 && keep != nil) { // keep is queued
		return nil
	}
	for {
		e := q.q[q.hand] // nil only for a hole at 0
		q.hand++
		q.settle()
		switch {
		case e == nil, e == keep:
		case !e.is(visited):
			return e
		default:
			e.flags &^= visited
		}
	}
}
