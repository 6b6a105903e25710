package store

import (
	"cmp"
	"slices"
	"strings"
)

// scanWork is how many keys one SCAN call may examine per key of its COUNT.
// Like Redis, a call with few matches returns few keys, or none, rather
// than walk the whole keyspace.
const scanWork = 10

// Scan returns the live keys matching pattern among those one SCAN call
// examines from cursor on, and the cursor to continue from: 0 once the
// iteration is over.
//
// The keys are visited in the order of their 64-bit hashes, and a cursor
// is the hash to resume at, so the server keeps no state for a scan and
// any number of scans may run at once. A call stops once it has count keys
// to return or has examined scanWork*count keys, always between two hashes
// (keys whose hashes clash come back together). Each key present for the
// whole iteration is returned exactly once; keys added or removed meanwhile
// may or may not be. FLUSHDB re-seeds the hash, so a scan across a flush
// may see a key added after it twice.
func (s *Store) Scan(cursor uint64, pattern string, count int) (uint64, []string) {
	count = max(count, 1)
	budget := scanWork * min(count, 1<<40)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	prefix := literalPrefix(pattern)
	if prefix == pattern { // no wildcards: at most one key
		e := s.entries.get([]byte(pattern))
		if e == nil || !s.live(e, now) || s.entries.hash(pattern) < cursor {
			return 0, nil
		}
		return 0, []string{e.key()}
	}
	if prefix != "" {
		if next, keys, ok := s.scanPrefix(cursor, pattern, prefix, count, budget, now); ok {
			return next, keys
		}
	}
	var out []string
	next, examined := uint64(0), 0
	s.entries.ascend(cursor, func(h uint64) bool {
		if len(out) >= count || examined >= budget {
			next = h // > cursor: this call examined at least the first hash
			return false
		}
		s.entries.withHash(h, func(e *entry) {
			examined++
			if Match(pattern, e.key()) && s.live(e, now) {
				out = append(out, e.key())
			}
		})
		return true
	})
	return next, out
}

// scanPrefix is Scan for a pattern whose literal prefix at most budget keys
// have: it finds them in the ordered index, then takes them in hash order
// from cursor on, so a scan of a small part of a big keyspace ends in one
// or a few calls. It reports false, having returned nothing, when more than
// budget keys have the prefix. s.mu must be held.
func (s *Store) scanPrefix(cursor uint64, pattern, prefix string, count, budget int, now int64) (uint64, []string, bool) {
	type hashed struct {
		h uint64
		e *entry
	}
	var found []hashed
	visited := 0
	s.order.Ascend(probe(prefix), func(e *entry) bool {
		if !strings.HasPrefix(e.key(), prefix) {
			return false
		}
		if visited++; visited > budget {
			return false
		}
		if h := s.entries.hash(e.key()); h >= cursor {
			found = append(found, hashed{h, e})
		}
		return true
	})
	if visited > budget {
		return 0, nil, false
	}
	slices.SortFunc(found, func(a, b hashed) int { return cmp.Compare(a.h, b.h) })
	var out []string
	for i, f := range found {
		if len(out) >= count && f.h != found[i-1].h {
			return f.h, out, true
		}
		if Match(pattern, f.e.key()) && s.live(f.e, now) {
			out = append(out, f.e.key())
		}
	}
	return 0, out, true
}
