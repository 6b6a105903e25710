package store

import "math/rand/v2"

// set is the value of a set key: distinct members.
type set struct{ members }

func (x *set) typeName() string { return "set" }
func (x *set) clone() object    { return &set{x.copyMembers()} }

func emptySet() *set { return &set{newMembers()} }

// namesCost is what names would cost as members.
func namesCost(names [][]byte) int64 {
	n := int64(len(names)) * memberOverhead
	for _, m := range names {
		n += int64(len(m))
	}
	return n
}

// SAdd adds members to key's set, creating it, and returns how many were
// not there.
func (s *Store) SAdd(key []byte, members [][]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, x, err := objectFor[*set](s, key); err != nil || e != nil && x.holdsAll(members) {
		return 0, err // as in Redis, no change is not a write: WATCH and the near cache see none
	}
	e, x, err := createSized(s, key, namesCost(members), emptySet)
	if err != nil {
		return 0, err
	}
	added := 0
	s.change(e, func() {
		for _, m := range members {
			if x.add(m) {
				added++
			}
		}
	})
	return added, nil
}

// SRem removes members from key's set and returns how many were there. An
// emptied set is deleted.
func (s *Store) SRem(key []byte, members [][]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := objectFor[*set](s, key)
	if e == nil || !x.holdsAny(members) {
		return 0, err
	}
	n := 0
	s.change(e, func() {
		for _, m := range members {
			if x.del(m) {
				n++
			}
		}
	})
	return n, nil
}

// SMembers returns the members of key's set, in no particular order.
func (s *Store) SMembers(key []byte) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := readObject[*set](s, key)
	if e == nil {
		return nil, err
	}
	return names(x.all()), nil
}

// SMIsMember reports, for each of members, whether key's set holds it.
func (s *Store) SMIsMember(key []byte, members [][]byte) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := readObject[*set](s, key)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(members))
	if e != nil {
		for i, m := range members {
			_, out[i] = x.get(m)
		}
	}
	return out, nil
}

// SCard returns the number of members of key's set, 0 if absent.
func (s *Store) SCard(key []byte) (int, error) { return cardinality[*set](s, key) }

// SPop removes up to count members of key's set, picked at random, and
// returns them: nil if key is absent. An emptied set is deleted.
func (s *Store) SPop(key []byte, count int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := readObject[*set](s, key)
	if e == nil {
		return nil, err
	}
	out := make([]string, 0, min(count, x.len()))
	if count == 0 {
		return out, nil
	}
	s.change(e, func() {
		for len(out) < count && x.len() > 0 {
			out = append(out, x.popAt(rand.IntN(x.len())).name)
		}
	})
	return out, nil
}

// SRandMember is HRandField for key's set: it calls each with count
// members picked at random, distinct or with repeat.
func (s *Store) SRandMember(key []byte, count int, repeat bool, each func(total int, member string) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := readObject[*set](s, key)
	if e == nil {
		return err
	}
	x.random(count, repeat, func(total int, it member) bool { return each(total, it.name) })
	return nil
}

// SMove moves member from src's set to dst's, creating dst, and reports
// whether src held it. A dst that is not a set fails with ErrWrongType
// (unless src is absent) and moves nothing.
func (s *Store) SMove(src, dst, member []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, from, err := objectFor[*set](s, src)
	if se == nil || err != nil {
		return false, err
	}
	de, _, err := objectFor[*set](s, dst)
	if err != nil {
		return false, err
	}
	if _, ok := from.get(member); !ok || de == se {
		return ok, nil
	}
	need := int64(len(member) + memberOverhead)
	if de == nil {
		need += int64(entryOverhead + len(dst))
	}
	// Room first, evicting anything but src (dst perhaps, found again
	// below), so that the member is never out of both sets.
	if err := s.makeRoom(need, se); err != nil {
		return false, err
	}
	s.change(se, func() { from.del(member) })
	de, to, err := createObject(s, dst, emptySet, nil)
	if err != nil {
		return false, err // not reached: room was made
	}
	s.change(de, func() { to.add(member) })
	return true, nil
}

// SetOp is how SINTER, SUNION and SDIFF combine sets.
type SetOp uint8

const (
	Inter SetOp = iota // the members of every set
	Union              // the members of any set
	Diff               // the members of the first set that no other set has
)

// SCombine returns the members of the sets at keys combined by op (an
// absent key is an empty set), or ErrWrongType if any key is not a set.
func (s *Store) SCombine(op SetOp, keys [][]byte) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.combine(op, keys, 0)
}

// SInterCard returns the number of members of the intersection of the
// sets at keys, counting no further than limit if it is above 0.
func (s *Store) SInterCard(keys [][]byte, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	found, err := s.combine(Inter, keys, limit)
	return len(found), err
}

// SCombineStore stores SCombine's result as the set dst, replacing what
// dst held (deleting it if the result is empty), and returns its size.
func (s *Store) SCombineStore(op SetOp, dst []byte, keys [][]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	found, err := s.combine(op, keys, 0)
	if err != nil {
		return 0, err
	}
	old := s.lookup(dst)
	if len(found) == 0 {
		if old != nil {
			s.remove(old)
		}
		return 0, nil
	}
	x := emptySet()
	for _, m := range found {
		x.add([]byte(m))
	}
	need := int64(entryOverhead+len(dst)) + x.cost()
	if old != nil {
		need -= s.size(old)
	}
	if err := s.makeRoom(need, old); err != nil {
		return 0, err
	}
	if old != nil {
		s.remove(old) // a new key: no deadline, as in Redis
	}
	if _, _, err := createObject(s, dst, func() *set { return x }, nil); err != nil {
		return 0, err // not reached: room was made
	}
	return x.len(), nil
}

// combine is SCombine with s.mu held; for Inter, a limit above 0 stops
// the search once it has found that many members.
func (s *Store) combine(op SetOp, keys [][]byte, limit int) ([]string, error) {
	sets := make([]*set, len(keys))
	for i, k := range keys {
		e, x, err := readObject[*set](s, k)
		if err != nil {
			return nil, err
		}
		if e != nil {
			sets[i] = x
		}
	}
	var out []string
	switch op {
	case Inter:
		smallest := 0
		for i, x := range sets {
			if x == nil {
				return nil, nil
			}
			if x.len() < sets[smallest].len() {
				smallest = i
			}
		}
		sets[0], sets[smallest] = sets[smallest], sets[0]
		sets[0].t.Scan(func(it member) bool {
			if !heldByAll(sets[1:], it) {
				return true
			}
			out = append(out, it.name)
			return limit <= 0 || len(out) < limit
		})
	case Union:
		u := emptySet()
		for _, x := range sets {
			if x != nil {
				x.t.Scan(func(it member) bool {
					if _, had := u.t.Set(member{h: it.h, name: it.name}); !had {
						out = append(out, it.name)
					}
					return true
				})
			}
		}
	case Diff:
		if sets[0] == nil {
			return nil, nil
		}
		sets[0].t.Scan(func(it member) bool {
			if !heldByAny(sets[1:], it) {
				out = append(out, it.name)
			}
			return true
		})
	}
	return out, nil
}

func heldByAll(sets []*set, it member) bool {
	for _, x := range sets {
		if _, ok := x.t.Get(member{h: it.h, name: it.name}); !ok {
			return false
		}
	}
	return true
}

func heldByAny(sets []*set, it member) bool {
	for _, x := range sets {
		if x != nil {
			if _, ok := x.t.Get(member{h: it.h, name: it.name}); ok {
				return true
			}
		}
	}
	return false
}

// SScan is SCAN over the members of key's set (see members.scan).
func (s *Store) SScan(key []byte, cursor uint64, pattern string, count int) (uint64, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := readObject[*set](s, key)
	if e == nil {
		return 0, nil, err
	}
	next, found := x.scan(cursor, pattern, count)
	return next, names(found), nil
}
