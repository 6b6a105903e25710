// Package store holds the cache's data: a hash map for lookups and an
// ordered index of the same keys, so that prefix scans cost
// O(log n + matches) instead of a walk over every key.
package store

import (
	"strings"
	"sync"

	"github.com/tidwall/btree"
)

// Store maps string keys to byte values. It is safe for concurrent use.
// Values handed out are never modified afterwards: a write replaces the
// slice, it does not write into it, so callers may keep them.
type Store struct {
	mu      sync.Mutex
	entries map[string]*entry // guarded by mu
	order   btree.Set[string] // guarded by mu; the keys of entries, sorted
}

type entry struct {
	value []byte
}

// New returns an empty store.
func New() *Store {
	return &Store{entries: make(map[string]*entry)}
}

// Set stores a copy of value under key.
func (s *Store) Set(key, value []byte) {
	v := append(make([]byte, 0, len(value)), value...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[string(key)]; ok {
		e.value = v
		return
	}
	k := string(key)
	s.entries[k] = &entry{value: v}
	s.order.Insert(k)
}

// Get returns the value stored under key.
func (s *Store) Get(key []byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[string(key)]; ok {
		return e.value, true
	}
	return nil, false
}

// GetDel removes key and returns its value. Of many concurrent calls for
// one key, exactly one gets the value.
func (s *Store) GetDel(key []byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[string(key)]
	if !ok {
		return nil, false
	}
	s.remove(string(key))
	return e.value, true
}

// Del removes key and reports whether it was there.
func (s *Store) Del(key []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[string(key)]; !ok {
		return false
	}
	s.remove(string(key))
	return true
}

// remove deletes a key known to exist. s.mu must be held.
func (s *Store) remove(key string) {
	delete(s.entries, key)
	s.order.Delete(key)
}

// Keys returns the keys that match the glob pattern, in byte order.
// Only keys that start with the pattern's literal prefix are visited.
func (s *Store) Keys(pattern string) []string {
	prefix := literalPrefix(pattern)
	exact := prefix == pattern
	var out []string
	s.mu.Lock()
	defer s.mu.Unlock()
	if exact {
		if _, ok := s.entries[pattern]; ok {
			out = append(out, pattern)
		}
		return out
	}
	s.order.Ascend(prefix, func(k string) bool {
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		if Match(pattern, k) {
			out = append(out, k)
		}
		return true
	})
	return out
}

// Len returns the number of keys.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
