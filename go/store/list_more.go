package store

import "errors"

// ErrIndexRange is LSET's reply to an index past either end of the list.
var ErrIndexRange = errors.New("ERR index out of range")

// set replaces the element at i.
func (d *deque) set(i int, v []byte) {
	j := (d.head + i) % len(d.buf)
	d.bytes += int64(len(v) - len(d.buf[j]))
	d.buf[j] = v
}

// elems returns the elements in order, in a new slice.
func (d *deque) elems() [][]byte {
	out := make([][]byte, d.n)
	for i := range d.n {
		out[i] = d.at(i)
	}
	return out
}

// replace makes vs the elements; d takes vs.
func (d *deque) replace(vs [][]byte) {
	var bytes int64
	for _, v := range vs {
		bytes += int64(len(v))
	}
	d.buf, d.head, d.n, d.bytes = vs, 0, len(vs), bytes
}

// listIndex turns a list index (negative counts from the end) into an offset,
// or -1 if it is past either end.
func listIndex(i int64, n int) int {
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return -1
	}
	return int(i)
}

// PushX is Push only onto a list that exists (LPUSHX, RPUSHX): an absent
// key stays absent, and the reply is 0.
func (s *Store) PushX(key []byte, values [][]byte, left bool) (int, error) {
	s.mu.Lock()
	e, _, err := s.listFor(key)
	s.mu.Unlock()
	if e == nil || err != nil {
		return 0, err
	}
	// No other command runs in between: the server runs one at a time.
	return s.Push(key, values, left)
}

// LIndex returns the element at i (negative counts from the end) of key's
// list, or false if there is none.
func (s *Store) LIndex(key []byte, i int64) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(key)
	if e == nil || err != nil {
		return nil, false, err
	}
	j := listIndex(i, l.len())
	if j < 0 {
		return nil, false, nil
	}
	return l.at(j), true, nil
}

// LSet replaces the element at i of key's list (LSET).
func (s *Store) LSet(key []byte, i int64, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(key)
	switch {
	case err != nil:
		return err
	case e == nil:
		return ErrNoSuchKey
	}
	j := listIndex(i, l.len())
	if j < 0 {
		return ErrIndexRange
	}
	if err := s.makeRoom(int64(len(v)-len(l.at(j))), e); err != nil {
		return err
	}
	s.change(e, func() { l.set(j, clone(v)) })
	return nil
}

// LInsert inserts v before (or after) the first element equal to pivot in
// key's list and returns the new length: 0 if the key is absent, -1 if
// pivot is not there (LINSERT).
func (s *Store) LInsert(key []byte, before bool, pivot, v []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(key)
	if e == nil || err != nil {
		return 0, err
	}
	at := -1
	for i := range l.len() {
		if string(l.at(i)) == string(pivot) {
			at = i
			break
		}
	}
	if at < 0 {
		return -1, nil
	}
	if !before {
		at++
	}
	if err := s.makeRoom(int64(len(v)+elemOverhead), e); err != nil {
		return 0, err
	}
	s.change(e, func() {
		vs := l.elems()
		l.replace(append(vs[:at:at], append([][]byte{clone(v)}, vs[at:]...)...))
	})
	return l.len(), nil
}

// LRem removes the first count elements equal to v from key's list (from
// its tail if count < 0, all of them if 0), and returns how many it
// removed (LREM). An emptied list is deleted.
func (s *Store) LRem(key []byte, count int64, v []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(key)
	if e == nil || err != nil {
		return 0, err
	}
	vs := l.elems()
	limit := int64(len(vs))
	if count != 0 {
		limit = min(limit, max(count, -count))
	}
	removed := make([]bool, len(vs))
	n := int64(0)
	for k := range vs {
		i := k
		if count < 0 {
			i = len(vs) - 1 - k
		}
		if n < limit && string(vs[i]) == string(v) {
			removed[i] = true
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	kept := vs[:0]
	for i, x := range vs {
		if !removed[i] {
			kept = append(kept, x)
		}
	}
	s.change(e, func() { l.replace(kept) })
	return int(n), nil
}

// LTrim keeps only the elements start..stop (inclusive; negative counts
// from the end) of key's list, deleting it if none is left (LTRIM).
func (s *Store) LTrim(key []byte, start, stop int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(key)
	if e == nil || err != nil {
		return err
	}
	n := int64(l.len())
	if start < 0 {
		start = max(n+start, 0)
	}
	if stop < 0 {
		stop = n + stop
	}
	stop = min(stop, n-1)
	left, right := start, n-1-stop // how many go from each end
	if start > stop || start >= n {
		left, right = n, 0
	}
	if left == 0 && right == 0 {
		return nil
	}
	s.change(e, func() {
		for range left {
			l.pop(true)
		}
		for range right {
			l.pop(false)
		}
	})
	return nil
}

// LPosOptions are LPOS's RANK, COUNT and MAXLEN: the rank-th match
// (negative: from the tail), at most count matches (0: all), among the
// first maxLen elements looked at (0: all).
type LPosOptions struct {
	Rank, Count, MaxLen int64
}

// LPos returns the indexes of the elements equal to v in key's list
// (LPOS), the first Count of them from the Rank-th match on.
func (s *Store) LPos(key, v []byte, opt LPosOptions) ([]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.listFor(key)
	if e == nil || err != nil {
		return nil, err
	}
	n := l.len()
	skip := max(opt.Rank, -opt.Rank) - 1 // matches passed over
	var out []int
	for k := 0; k < n && (opt.MaxLen == 0 || int64(k) < opt.MaxLen); k++ {
		i := k
		if opt.Rank < 0 {
			i = n - 1 - k
		}
		if string(l.at(i)) != string(v) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, i)
		if opt.Count != 0 && int64(len(out)) == opt.Count {
			break
		}
	}
	return out, nil
}

func clone(v []byte) []byte { return append(make([]byte, 0, len(v)), v...) }

// BMPop is BPop for BLMPOP: it pops up to count values from the first
// non-empty list among keys, or waits for a push, and hands them out in
// Popped.Values.
func (s *Store) BMPop(keys [][]byte, left bool, count int, notify func()) (*Popped, *Waiter, error) {
	return s.bpop(keys, left, count, notify)
}

// popped is what a blocking pop of count values (0 for BLPOP's one) took
// from key.
func popped(key string, vals [][]byte, count int) *Popped {
	p := &Popped{Key: key, Value: vals[0]}
	if count > 0 {
		p.Values = vals
	}
	return p
}
