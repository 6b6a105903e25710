// Package store holds the cache's data: a hash map for lookups, an ordered
// index of the same keys so that prefix scans cost O(log n + matches), an
// index of deadlines so expired keys are found without a scan, and a SIEVE
// queue that picks what to evict when a memory bound is set.
//
// Locking lives here, in one mutex around structures that have none.
package store

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/btree"
)

// Errors returned to clients as they are, so they carry Redis's error codes.
var (
	ErrWrongType  = errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")
	ErrOOM        = errors.New("OOM command not allowed when used memory > 'maxmemory'")
	ErrNotInteger = errors.New("ERR value is not an integer or out of range")
)

// Config sets a store's bound and clock. The zero value is an unbounded
// store on the wall clock.
type Config struct {
	// MaxMemory bounds the bytes the store accounts for: keys, values and
	// a fixed per-entry overhead. 0 means no bound.
	MaxMemory int64
	// NoEvict makes writes past MaxMemory fail with ErrOOM instead of
	// evicting other keys.
	NoEvict bool
	// Now is the clock for expiry; nil means time.Now.
	Now func() time.Time
}

// entryOverhead approximates what one entry costs beyond its key and value
// bytes: the entry struct, its map slot and its index slots.
const entryOverhead = 112

// elemOverhead approximates what one list element costs beyond its bytes.
const elemOverhead = 32

type kind uint8

const (
	kindString kind = iota
	kindList
)

type entry struct {
	key      string
	kind     kind
	value    []byte // kindString; replaced on write, never written into
	list     *deque // kindList
	expireAt int64  // unix nanoseconds; 0 means never
	size     int64  // bytes accounted for this entry

	// SIEVE queue, newest at the head.
	visited    bool
	prev, next *entry
}

// Store maps string keys to byte strings and lists. It is safe for
// concurrent use. Byte slices handed out are never modified afterwards.
type Store struct {
	cfg Config

	mu       sync.Mutex
	entries  map[string]*entry     // guarded by mu
	order    btree.Set[string]     // guarded by mu; the keys of entries, sorted
	deadline *btree.BTreeG[*entry] // guarded by mu; entries with a TTL, by expireAt
	queue    sieve                 // guarded by mu
	waiters  map[string][]*Waiter  // guarded by mu; blocked pops, per key, oldest first
	cursors  cursors               // guarded by mu; SCAN positions
	used     int64                 // guarded by mu
	stats    Stats                 // guarded by mu
}

// Stats are the store's counters since it was created.
type Stats struct {
	Keys        int
	Expiring    int   // keys with a TTL
	UsedMemory  int64 // bytes accounted, as bounded by MaxMemory
	MaxMemory   int64
	Hits        int64 // reads that found their key
	Misses      int64 // reads that did not
	Evictions   int64
	Expirations int64
	Pops        int64 // values handed out by GETDEL and list pops
}

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{
		cfg:      cfg,
		entries:  make(map[string]*entry),
		deadline: btree.NewBTreeGOptions(byDeadline, btree.Options{NoLocks: true}),
		waiters:  make(map[string][]*Waiter),
	}
}

func byDeadline(a, b *entry) bool {
	if a.expireAt != b.expireAt {
		return a.expireAt < b.expireAt
	}
	return a.key < b.key
}

func (s *Store) now() int64 { return s.cfg.Now().UnixNano() }

// lookup returns the live entry for key, removing it first if it expired.
// s.mu must be held.
func (s *Store) lookup(key []byte) *entry {
	e, ok := s.entries[string(key)]
	if !ok {
		return nil
	}
	if e.expireAt != 0 && e.expireAt <= s.now() {
		s.remove(e)
		s.stats.Expirations++
		return nil
	}
	return e
}

// read is lookup for commands that count as a hit or a miss.
func (s *Store) read(key []byte) *entry {
	e := s.lookup(key)
	if e == nil {
		s.stats.Misses++
		return nil
	}
	s.stats.Hits++
	e.visited = true
	return e
}

// insert adds a new entry for key. s.mu must be held and key must be absent.
func (s *Store) insert(key []byte, e *entry) {
	e.key = string(key)
	s.entries[e.key] = e
	s.order.Insert(e.key)
	s.queue.pushHead(e)
	s.resize(e, entrySize(e))
}

// remove deletes e from every index. s.mu must be held.
func (s *Store) remove(e *entry) {
	delete(s.entries, e.key)
	s.order.Delete(e.key)
	if e.expireAt != 0 {
		s.deadline.Delete(e)
	}
	s.queue.unlink(e)
	s.used -= e.size
}

// resize records e's new size. s.mu must be held.
func (s *Store) resize(e *entry, size int64) {
	s.used += size - e.size
	e.size = size
}

func entrySize(e *entry) int64 {
	n := int64(entryOverhead + len(e.key) + len(e.value))
	if e.list != nil {
		n += e.list.bytes + int64(e.list.len())*elemOverhead
	}
	return n
}

// makeRoom evicts entries until need more bytes fit under the bound, or
// fails with ErrOOM. keep is never evicted. s.mu must be held.
func (s *Store) makeRoom(need int64, keep *entry) error {
	max := s.cfg.MaxMemory
	if max == 0 || s.used+need <= max {
		return nil
	}
	if s.cfg.NoEvict || need > max {
		return ErrOOM
	}
	for s.used+need > max {
		victim := s.queue.victim(keep)
		if victim == nil {
			return ErrOOM
		}
		s.remove(victim)
		s.stats.Evictions++
	}
	return nil
}

// setExpire changes e's deadline, keeping the deadline index in step.
// s.mu must be held.
func (s *Store) setExpire(e *entry, at int64) {
	if e.expireAt != 0 {
		s.deadline.Delete(e)
	}
	e.expireAt = at
	if at != 0 {
		s.deadline.Set(e)
	}
}

// SetOptions are SET's modifiers.
type SetOptions struct {
	TTL     time.Duration // > 0: expire after TTL
	KeepTTL bool          // keep the key's current deadline
	NX      bool          // only set if the key does not exist
	XX      bool          // only set if the key exists
}

// Set stores a copy of value under key and reports whether it did (NX and
// XX may prevent it).
func (s *Store) Set(key, value []byte, opt SetOptions) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	if (opt.NX && e != nil) || (opt.XX && e == nil) {
		return false, nil
	}
	if err := s.setLocked(key, e, value, opt); err != nil {
		return false, err
	}
	return true, nil
}

// setLocked overwrites e (or creates key if e is nil) with a string value.
// s.mu must be held.
func (s *Store) setLocked(key []byte, e *entry, value []byte, opt SetOptions) error {
	grow := int64(len(value))
	if e == nil {
		grow += int64(entryOverhead + len(key))
	} else {
		grow -= e.size - int64(entryOverhead+len(key))
	}
	if err := s.makeRoom(grow, e); err != nil {
		return err
	}
	v := append(make([]byte, 0, len(value)), value...)
	if e == nil {
		e = &entry{kind: kindString, value: v}
		s.insert(key, e)
	} else {
		e.kind, e.value, e.list = kindString, v, nil
		s.resize(e, entrySize(e))
	}
	switch {
	case opt.TTL > 0:
		s.setExpire(e, s.now()+int64(opt.TTL))
	case !opt.KeepTTL:
		s.setExpire(e, 0)
	}
	return nil
}

// MSet sets every key/value pair at once.
func (s *Store) MSet(pairs [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := s.setLocked(pairs[i], s.lookup(pairs[i]), pairs[i+1], SetOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// Get returns the string stored under key.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.read(key)
	switch {
	case e == nil:
		return nil, false, nil
	case e.kind != kindString:
		return nil, false, ErrWrongType
	}
	return e.value, true, nil
}

// MGet returns the strings under keys, nil where a key is missing or not a
// string.
func (s *Store) MGet(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range keys {
		if e := s.read(k); e != nil && e.kind == kindString {
			out[i] = e.value
		}
	}
	return out
}

// GetDel removes key and returns its string. Of many concurrent calls for
// one key, exactly one gets the value.
func (s *Store) GetDel(key []byte) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.read(key)
	switch {
	case e == nil:
		return nil, false, nil
	case e.kind != kindString:
		return nil, false, ErrWrongType
	}
	s.remove(e)
	s.stats.Pops++
	return e.value, true, nil
}

// IncrBy adds delta to the integer stored under key (0 if absent).
func (s *Store) IncrBy(key []byte, delta int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	var n int64
	if e != nil {
		if e.kind != kindString {
			return 0, ErrWrongType
		}
		var ok bool
		if n, ok = parseInt64(e.value); !ok {
			return 0, ErrNotInteger
		}
	}
	if (delta > 0 && n > maxInt64-delta) || (delta < 0 && n < minInt64-delta) {
		return 0, errors.New("ERR increment or decrement would overflow")
	}
	n += delta
	return n, s.setLocked(key, e, appendInt(nil, n), SetOptions{KeepTTL: true})
}

// Del removes key and reports whether it was there.
func (s *Store) Del(key []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	if e == nil {
		return false
	}
	s.remove(e)
	return true
}

// Exists reports whether key is there.
func (s *Store) Exists(key []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookup(key) != nil
}

// Type returns "string", "list" or "none".
func (s *Store) Type(key []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := s.lookup(key); {
	case e == nil:
		return "none"
	case e.kind == kindList:
		return "list"
	}
	return "string"
}

// Keys returns the live keys that match the glob pattern, in byte order.
// Only keys that start with the pattern's literal prefix are visited.
func (s *Store) Keys(pattern string) []string {
	var out []string
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.scanFrom(pattern, literalPrefix(pattern), func(e *entry) bool {
		if e.expireAt == 0 || e.expireAt > now {
			out = append(out, e.key)
		}
		return true
	})
	return out
}

// scanFrom calls fn, in key order, for each entry at or after from whose key
// matches pattern, until fn returns false. s.mu must be held.
func (s *Store) scanFrom(pattern, from string, fn func(*entry) bool) {
	prefix := literalPrefix(pattern)
	if prefix == pattern { // no wildcards: at most one key
		if e, ok := s.entries[pattern]; ok && pattern >= from {
			fn(e)
		}
		return
	}
	if from < prefix {
		from = prefix
	}
	s.order.Ascend(from, func(k string) bool {
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		if Match(pattern, k) {
			return fn(s.entries[k])
		}
		return true
	})
}

// Len returns the number of keys, counting expired ones not yet reclaimed.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Flush removes every key.
func (s *Store) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = make(map[string]*entry)
	s.order.Clear()
	s.deadline.Clear()
	s.queue = sieve{}
	s.used = 0
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Keys = len(s.entries)
	st.Expiring = s.deadline.Len()
	st.UsedMemory = s.used
	st.MaxMemory = s.cfg.MaxMemory
	return st
}

const (
	maxInt64 = 1<<63 - 1
	minInt64 = -1 << 63
)

// parseInt64 parses a decimal integer the way Redis does: no spaces, no
// '+', no leading zeros.
func parseInt64(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) || (neg && digits[0] == '0') {
		return 0, false
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		next := n*10 + uint64(c-'0')
		if next/10 != n {
			return 0, false
		}
		n = next
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > maxInt64 {
		return 0, false
	}
	return int64(n), true
}

// ParseInt is parseInt64 for callers outside the store.
func ParseInt(b []byte) (int64, bool) { return parseInt64(b) }

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
