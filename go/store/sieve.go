package store

// sieve is the eviction queue of SIEVE (Zhang et al., NSDI '24): new
// entries enter at the head; a read only marks an entry visited; to evict,
// a hand walks from the tail towards the head, giving each visited entry a
// second chance (clearing its mark) and evicting the first unvisited one.
// The hand stays where it stopped, so popular entries are passed over
// without being moved. Lookups never touch the queue's links.
type sieve struct {
	head, tail *entry // head is the newest entry
	hand       *entry // next entry the hand examines; nil means the tail
}

func (q *sieve) pushHead(e *entry) {
	e.prev, e.next = nil, q.head
	if q.head != nil {
		q.head.prev = e
	}
	q.head = e
	if q.tail == nil {
		q.tail = e
	}
}

// unlink removes e from the queue, moving the hand off it first.
func (q *sieve) unlink(e *entry) {
	if q.hand == e {
		q.hand = e.prev
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// victim moves the hand to the next entry to evict and returns it, or nil
// if nothing but keep is left. It ends within two passes: the first pass
// clears every mark it meets.
func (q *sieve) victim(keep *entry) *entry {
	if q.tail == nil || (q.head == q.tail && q.tail == keep) {
		return nil
	}
	for {
		e := q.hand
		if e == nil {
			e = q.tail
		}
		q.hand = e.prev
		switch {
		case e == keep:
		case !e.is(visited):
			return e
		default:
			e.flags &^= visited
		}
	}
}
