package store

import "slices"

// deque is a ring buffer of byte strings, the value of a list key.
type deque struct {
	buf   [][]byte
	head  int   // index of the first element
	n     int   // number of elements
	bytes int64 // sum of the elements' lengths
}

func (d *deque) typeName() string { return "list" }
func (d *deque) len() int         { return d.n }
func (d *deque) cost() int64      { return d.bytes + int64(d.n)*elemOverhead }

func (d *deque) clone() object {
	c := &deque{buf: make([][]byte, d.n), n: d.n, bytes: d.bytes}
	for i := range d.n {
		c.buf[i] = d.at(i)
	}
	return c
}

func (d *deque) at(i int) []byte { return d.buf[(d.head+i)%len(d.buf)] }

func (d *deque) grow() {
	if d.n < len(d.buf) {
		return
	}
	buf := make([][]byte, max(4, 2*len(d.buf)))
	for i := 0; i < d.n; i++ {
		buf[i] = d.at(i)
	}
	d.buf, d.head = buf, 0
}

func (d *deque) push(v []byte, left bool) {
	d.grow()
	if left {
		d.head = (d.head - 1 + len(d.buf)) % len(d.buf)
		d.buf[d.head] = v
	} else {
		d.buf[(d.head+d.n)%len(d.buf)] = v
	}
	d.n++
	d.bytes += int64(len(v))
}

func (d *deque) pop(left bool) []byte {
	i := (d.head + d.n - 1) % len(d.buf)
	if left {
		i = d.head
		d.head = (d.head + 1) % len(d.buf)
	}
	v := d.buf[i]
	d.buf[i] = nil
	d.n--
	d.bytes -= int64(len(v))
	return v
}

// Popped is a value taken from a list by a blocked pop or move, or the
// error that ended a blocked move (ErrWrongType: the destination is not a
// list).
type Popped struct {
	Key     string
	Value   []byte
	Score   float64   // of a member popped from a sorted set
	Values  [][]byte  // BLMPOP's values, Value the first
	Members []ZMember // BZMPOP's members, Value and Score the first
	// Entries are what a blocked XREAD receives: those added to Key's
	// stream above the ID it waited for.
	Entries []StreamEntry
	Err     error
}

// Waiter is a blocked BLPOP, BRPOP or BLMOVE. It receives at most one value
// on C.
type Waiter struct {
	C      <-chan Popped
	c      chan Popped
	keys   []string
	left   bool
	zset   bool        // BZPOPMIN (left) or BZPOPMAX: waits for a sorted set's member
	count  int         // BLMPOP, BZMPOP: up to count values or members (0: one)
	move   *moveTo     // for BLMOVE: where the value goes
	stream *streamWait // for XREAD: the entries it waits for, which it reads and does not take
	notify func()      // called, with the store locked, once a value is on C
}

// moveTo is the destination of a blocked move.
type moveTo struct {
	key  []byte
	left bool
}

// listFor returns key's list and its entry (nil if key is absent), or
// ErrWrongType. s.mu must be held.
func (s *Store) listFor(key []byte) (*entry, *deque, error) { return objectFor[*deque](s, key) }

// newList returns key's list, creating it empty if key is absent and
// evicting anything but keep to make room. s.mu must be held.
func (s *Store) newList(key []byte, keep *entry) (*entry, *deque, error) {
	return createObject(s, key, func() *deque { return &deque{} }, keep)
}

// Push appends copies of values to key's list, at the head if left, and
// returns the list's new length. Blocked pops waiting on key are served
// by the next ServeReady, each taking one value.
func (s *Store) Push(key []byte, values [][]byte, left bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var need int64
	for _, v := range values {
		need += int64(len(v) + elemOverhead)
	}
	if err := s.makeRoom(need, s.lookup(key)); err != nil {
		return 0, err
	}
	e, l, err := s.newList(key, nil)
	if err != nil {
		return 0, err
	}
	s.change(e, func() {
		for _, v := range values {
			l.push(append(make([]byte, 0, len(v)), v...), left)
		}
	})
	s.signal(e.key())
	return l.len(), nil
}

// Pop removes up to count values from the head (left) or tail of key's
// list. An emptied list is deleted.
func (s *Store) Pop(key []byte, left bool, count int) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(key)
	if e == nil || err != nil {
		s.stats.Misses++
		return nil, err
	}
	s.stats.Hits++
	return s.popLocked(e, l, left, count), nil
}

// popLocked pops up to count values from l, e's list, deleting e if that
// empties it. s.mu must be held.
func (s *Store) popLocked(e *entry, l *deque, left bool, count int) [][]byte {
	out := make([][]byte, 0, min(count, l.len()))
	s.change(e, func() {
		for len(out) < count && l.len() > 0 {
			out = append(out, l.pop(left))
		}
	})
	s.stats.Pops += int64(len(out))
	return out
}

// LLen returns the length of key's list, 0 if absent.
func (s *Store) LLen(key []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(key)
	if e == nil || err != nil {
		return 0, err
	}
	return l.len(), nil
}

// LRange returns the elements start..stop (inclusive; negative counts from
// the end) of key's list.
func (s *Store) LRange(key []byte, start, stop int) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(key)
	if e == nil || err != nil {
		return nil, err
	}
	n := l.len()
	if start < 0 {
		start = max(n+start, 0)
	}
	if stop < 0 {
		stop = n + stop
	}
	stop = min(stop, n-1)
	var out [][]byte
	for i := start; i <= stop; i++ {
		out = append(out, l.at(i))
	}
	return out, nil
}

// BPop pops from the first non-empty list among keys. If all are empty it
// returns a Waiter instead, which receives the first value pushed to any of
// them, and then calls notify if it is not nil; notify must not use the
// store. The caller must end the wait with Cancel unless it received.
func (s *Store) BPop(keys [][]byte, left bool, notify func()) (*Popped, *Waiter, error) {
	return s.bpop(keys, left, 0, notify)
}

// bpop is BPop, and with count > 0 BMPop. A Waiter pops the same count.
func (s *Store) bpop(keys [][]byte, left bool, count int, notify func()) (*Popped, *Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		e, l, err := s.listFor(k)
		if err != nil {
			return nil, nil, err
		}
		if e != nil {
			s.stats.Hits++
			return popped(e.key(), s.popLocked(e, l, left, max(count, 1)), count), nil, nil
		}
	}
	c := make(chan Popped, 1)
	w := &Waiter{C: c, c: c, left: left, count: count, notify: notify}
	for _, k := range keys {
		w.keys = append(w.keys, string(k))
		s.waiters[string(k)] = append(s.waiters[string(k)], w)
	}
	return nil, w, nil
}

// Cancel ends a wait. If a value reached the waiter in the meantime, it is
// put back at the end of its list it was taken from, so no value is lost;
// the next ServeReady hands it to the next waiter.
func (s *Store) Cancel(w *Waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropWaiter(w)
	select {
	case p := <-w.c:
		if w.move != nil || p.Err != nil || w.stream != nil {
			return // a move is complete once served, and a read takes nothing
		}
		if w.zset {
			s.putBackMembers(p)
			return
		}
		vals := p.Values
		if vals == nil {
			vals = [][]byte{p.Value}
		}
		e, l, err := s.newList([]byte(p.Key), nil)
		if err == nil {
			s.change(e, func() {
				for i := len(vals) - 1; i >= 0; i-- { // back where they were, in their order
					l.push(vals[i], w.left)
				}
			})
			s.stats.Pops -= int64(len(vals))
			s.signal(e.key())
		}
	default:
	}
}

// signal marks key as pushed to, if pops wait on it: ServeReady will serve
// them. s.mu must be held.
func (s *Store) signal(key string) {
	if len(s.waiters[key]) == 0 || s.isReady[key] {
		return
	}
	s.isReady[key] = true
	s.ready = append(s.ready, key)
	s.anyReady.Store(true)
}

// ServeReady hands the values pushed since the last call to the pops
// waiting for them. Pushes do not serve waiters themselves, so that a
// waiter sees the lists as they are after a whole command, or a whole
// transaction, as in Redis: the server calls ServeReady once each command
// it runs for a client is done (for EXEC, once the transaction is). Keys
// are served in the order they were first pushed to, and waiters on a key
// oldest first, one value each; a key that is no longer a list by then
// serves nobody. Values that served BLMOVEs are pushed to their
// destinations, whose waiters are then served too.
func (s *Store) ServeReady() {
	if !s.anyReady.Load() {
		return // the common case, with no lock taken
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.ready) > 0 {
		key := s.ready[0]
		s.ready = s.ready[1:]
		delete(s.isReady, key)
		if e := s.lookup([]byte(key)); e != nil && s.objects[e] != nil {
			s.serveWaiters(e)
		}
	}
	s.ready = nil
	s.anyReady.Store(false)
}

// serveWaiters hands values from e's list or sorted set to the waiters
// blocked on its key for that type, oldest first, one value each; waiters
// for the other type wait on, as in Redis. s.mu must be held.
func (s *Store) serveWaiters(e *entry) {
	key := e.key()
	for _, w := range slices.Clone(s.waiters[key]) {
		if w.stream != nil { // every XREAD is served: reading takes nothing
			s.serveStreamWaiter(e, w)
			continue
		}
		l, isList := s.objects[e].(*deque)
		if _, isZset := s.objects[e].(*zset); w.zset != isZset || !w.zset && !isList {
			continue
		}
		s.dropWaiter(w)
		if w.zset {
			z := s.objects[e].(*zset)
			w.c <- zpopped(key, s.zpopLocked(e, z, !w.left, max(w.count, 1)), w.count)
		} else if w.move != nil {
			// Moved values mark the destination ready in turn; each
			// waiter is served once, so that ends.
			v, err := s.moveLocked(e, l, w.move.key, w.left, w.move.left)
			w.c <- Popped{Key: key, Value: v, Err: err}
		} else {
			w.c <- *popped(key, s.popLocked(e, l, w.left, max(w.count, 1)), w.count)
		}
		if w.notify != nil {
			w.notify()
		}
		if s.objects[e] == nil { // the emptied list was deleted
			return
		}
	}
}

// dropWaiter removes w from the wait lists of all its keys. s.mu must be held.
func (s *Store) dropWaiter(w *Waiter) {
	for _, k := range w.keys {
		ws := s.waiters[k]
		for i, x := range ws {
			if x == w {
				ws = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(s.waiters, k)
		} else {
			s.waiters[k] = ws
		}
	}
	w.keys = nil
}

// Move pops a value from the head (fromLeft) or tail of src's list and
// pushes it onto the head (toLeft) or tail of dst's, in one step, and
// returns it (LMOVE). src and dst may be the same list, which rotates it.
// A missing src moves nothing; a dst that is not a list fails with
// ErrWrongType and moves nothing.
func (s *Store) Move(src, dst []byte, fromLeft, toLeft bool) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(src)
	if e == nil || err != nil {
		s.stats.Misses++
		return nil, false, err
	}
	s.stats.Hits++
	v, err := s.moveLocked(e, l, dst, fromLeft, toLeft)
	return v, err == nil, err
}

// BMove is Move for BLMOVE. If src is empty it returns a Waiter instead,
// which receives the first value pushed to src once it has been moved to
// dst, and then calls notify as BPop's do.
func (s *Store) BMove(src, dst []byte, fromLeft, toLeft bool, notify func()) ([]byte, *Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(src)
	if err != nil {
		return nil, nil, err
	}
	if e != nil {
		s.stats.Hits++
		v, err := s.moveLocked(e, l, dst, fromLeft, toLeft)
		return v, nil, err
	}
	c := make(chan Popped, 1)
	w := &Waiter{C: c, c: c, keys: []string{string(src)}, left: fromLeft, notify: notify,
		move: &moveTo{key: append([]byte(nil), dst...), left: toLeft}}
	s.waiters[string(src)] = append(s.waiters[string(src)], w)
	return nil, w, nil
}

// moveLocked moves one value from l, e's list, to dst's, creating dst, and
// deletes e if that emptied it. Blocked pops on dst are served by the
// next ServeReady. s.mu must be held.
func (s *Store) moveLocked(e *entry, l *deque, dst []byte, fromLeft, toLeft bool) ([]byte, error) {
	d, dl, err := s.newList(dst, e)
	if err != nil {
		return nil, err
	}
	var v []byte
	if d == e { // a rotation: one change, or popping a last value would delete it
		s.change(e, func() { v = l.pop(fromLeft); l.push(v, toLeft) })
	} else {
		s.change(e, func() { v = l.pop(fromLeft) })
		s.change(d, func() { dl.push(v, toLeft) })
	}
	s.signal(string(dst))
	return v, nil
}
