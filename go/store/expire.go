package store

import "time"

// Expire sets key to expire after ttl and reports whether the key exists.
// A ttl of zero or less deletes the key, as in Redis.
func (s *Store) Expire(key []byte, ttl time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	if e == nil {
		return false
	}
	if ttl <= 0 {
		s.remove(e)
		s.stats.Expirations++
		return true
	}
	s.setExpire(e, s.now()+int64(ttl))
	return true
}

// Persist removes key's deadline and reports whether it had one.
func (s *Store) Persist(key []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	if e == nil || !e.is(hasTTL) {
		return false
	}
	s.setExpire(e, 0)
	return true
}

// TTL returns the time key has left. exists is false for a missing key;
// forever is true for a key without a deadline.
func (s *Store) TTL(key []byte) (left time.Duration, exists, forever bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	switch {
	case e == nil:
		return 0, false, false
	case !e.is(hasTTL):
		return 0, true, true
	}
	return time.Duration(s.expires[e] - s.now()), true, false
}

// ExpireDue removes at most max keys whose deadline has passed, earliest
// first, and returns how many it removed. It visits only expired keys, so a
// caller can run it often and bound each call's work by max.
func (s *Store) ExpireDue(max int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n := 0
	for n < max {
		d, ok := s.deadline.Min()
		if !ok || d.at > now {
			break
		}
		s.remove(d.e)
		s.stats.Expirations++
		n++
	}
	return n
}
