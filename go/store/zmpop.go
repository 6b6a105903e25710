package store

// ZMPOP and BZMPOP: BZPOPMIN and BZPOPMAX that take up to count members.

// ZMPop pops up to count members with the lowest scores (min) or the
// highest from the first non-empty sorted set among keys; it returns nil
// if all are empty.
func (s *Store) ZMPop(keys [][]byte, min bool, count int) (*Popped, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		e, z, err := objectFor[*zset](s, k)
		if err != nil {
			return nil, err
		}
		if e != nil {
			s.stats.Hits++
			p := zpopped(e.key(), s.zpopLocked(e, z, !min, count), count)
			return &p, nil
		}
	}
	return nil, nil
}

// BZMPop is ZMPop that, if all the sorted sets are empty, returns a Waiter
// instead, as BZPop does; it receives up to count members (in Popped's
// Members) of the first set that gets any.
func (s *Store) BZMPop(keys [][]byte, min bool, count int, notify func()) (*Popped, *Waiter, error) {
	return s.bzpop(keys, min, max(count, 1), notify)
}

// bzpop is BZPop, and with count > 0 BZMPop. A Waiter pops the same count.
func (s *Store) bzpop(keys [][]byte, min bool, count int, notify func()) (*Popped, *Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		e, z, err := objectFor[*zset](s, k)
		if err != nil {
			return nil, nil, err
		}
		if e != nil {
			s.stats.Hits++
			p := zpopped(e.key(), s.zpopLocked(e, z, !min, max(count, 1)), count)
			return &p, nil, nil
		}
	}
	c := make(chan Popped, 1)
	w := &Waiter{C: c, c: c, left: min, zset: true, count: count, notify: notify}
	for _, k := range keys {
		w.keys = append(w.keys, string(k))
		s.waiters[string(k)] = append(s.waiters[string(k)], w)
	}
	return nil, w, nil
}

// zpopped is what a pop of ms from key's sorted set hands over: the first
// member in Value and Score, and all of them in Members if count > 0
// (ZMPOP, BZMPOP).
func zpopped(key string, ms []ZMember, count int) Popped {
	p := Popped{Key: key, Value: []byte(ms[0].Member), Score: ms[0].Score}
	if count > 0 {
		p.Members = ms
	}
	return p
}

// putBackMembers returns the members that reached a cancelled wait to
// their sorted set, as putBackMember does each. s.mu must be held.
func (s *Store) putBackMembers(p Popped) {
	if p.Members == nil {
		s.putBackMember(p)
		return
	}
	for _, m := range p.Members {
		s.putBackMember(Popped{Key: p.Key, Value: []byte(m.Member), Score: m.Score})
	}
}
