package store

import "time"

// Expire sets key to expire after ttl and reports whether the key exists.
// A ttl of zero or less deletes the key, as in Redis.
func (s *Store) Expire(key []byte, ttl time.Duration) bool {
	return s.ExpireAt(key, s.Now().Add(ttl), 0)
}

// ExpireCond restricts ExpireAt to keys whose current deadline passes the
// checks set in it: EXPIRE's NX, XX, GT and LT options.
type ExpireCond uint8

const (
	IfNoTTL  ExpireCond = 1 << iota // NX: the key has no deadline
	IfTTL                           // XX: the key has a deadline
	IfLater                         // GT: the new deadline is later than the current one
	IfSooner                        // LT: the new deadline is sooner than the current one
)

// ExpireAt sets key to expire at at, if cond holds, and reports whether it
// did. A key without a deadline counts as expiring never: later than any
// deadline for GT and LT. A deadline not after now deletes the key, as in
// Redis.
func (s *Store) ExpireAt(key []byte, at time.Time, cond ExpireCond) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	if e == nil {
		return false
	}
	cur, has := s.expires[e], e.is(hasTTL)
	when := unixMilli(at)
	if cond&IfNoTTL != 0 && has ||
		cond&IfTTL != 0 && !has ||
		cond&IfLater != 0 && (!has || when <= cur) ||
		cond&IfSooner != 0 && has && when >= cur {
		return false
	}
	s.expireLocked(e, when)
	return true
}

// expireLocked gives e the deadline at, deleting e if at is not after now.
// s.mu must be held.
func (s *Store) expireLocked(e *entry, at int64) {
	if nanos(at) <= s.now() {
		s.remove(e)
		s.stats.Expirations++
		return
	}
	s.setExpire(e, at)
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

// ExpireTime returns key's deadline in Unix milliseconds, on the store's
// clock (PEXPIRETIME). exists is false for a missing key; forever is true
// for a key without a deadline.
func (s *Store) ExpireTime(key []byte) (at int64, exists, forever bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	switch {
	case e == nil:
		return 0, false, false
	case !e.is(hasTTL):
		return 0, true, true
	}
	return s.expires[e], true, false
}

// TTL returns the time key has left. exists is false for a missing key;
// forever is true for a key without a deadline.
func (s *Store) TTL(key []byte) (left time.Duration, exists, forever bool) {
	at, exists, forever := s.ExpireTime(key)
	if !exists || forever {
		return 0, exists, forever
	}
	return time.Duration(max(nanos(at)-s.now(), 0)), true, false // the deadline may pass after the lookup; one past 2262 is read as then
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
		if !ok || nanos(d.at) > now {
			break
		}
		s.remove(d.e)
		s.stats.Expirations++
		n++
	}
	return n
}

// Deadlines are kept in Unix milliseconds, as Redis keeps them: an int64
// holds every deadline Redis takes (nanoseconds would end in the year 2262).

// unixMilli returns t in Unix milliseconds, rounded down.
func unixMilli(t time.Time) int64 { return t.UnixMilli() }

// nanos returns the deadline ms in Unix nanoseconds, to compare with the
// clock: one past what nanoseconds hold is kept as their latest time, which
// never comes, and one before as their earliest, long past.
func nanos(ms int64) int64 {
	switch {
	case ms > maxInt64/int64(time.Millisecond):
		return maxInt64
	case ms < minInt64/int64(time.Millisecond):
		return minInt64
	}
	return ms * int64(time.Millisecond)
}
