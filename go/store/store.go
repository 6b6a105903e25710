// Package store holds the cache's data: a hash index for lookups, an ordered
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
	"sync/atomic"
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
	// Changed, if set, hears of every change to a key, with the store
	// locked: the key was written, deleted, expired, evicted or given a
	// new deadline. Flush calls it once with flushed set and key "". It is
	// the same notification that marks WATCHes (see touch); it must be
	// quick and must not call into the store.
	Changed func(key string, flushed bool)
}

// entryOverhead approximates what one entry costs beyond its key and value
// bytes: the entry struct, its map slot and its key index slot.
const entryOverhead = 96

// Store maps string keys to byte strings and objects (lists, ...). It is safe for
// concurrent use. Byte slices handed out are never modified afterwards.
type Store struct {
	cfg Config

	mu       sync.Mutex
	entries  index                   // guarded by mu; the entries, by key hash
	order    *btree.BTreeG[*entry]   // guarded by mu; the entries, by key
	hint     btree.PathHint          // guarded by mu; order's last path, for keys set in sequence
	objects  map[*entry]object       // guarded by mu; values of entries that are not strings (see object)
	shared   map[*entry]Shared       // guarded by mu; values in shared memory (shared.go)
	expires  map[*entry]int64        // guarded by mu; deadlines, unix milliseconds
	deadline *btree.BTreeG[deadline] // guarded by mu; expires, ordered by time
	queue    sieve                   // guarded by mu; empty unless the store evicts
	waiters  map[string][]*Waiter    // guarded by mu; blocked pops, per key, oldest first
	ready    []string                // guarded by mu; keys pushed to while pops wait on them, in push order (see ServeReady)
	isReady  map[string]bool         // guarded by mu; the keys in ready
	anyReady atomic.Bool             // ready is not empty: ServeReady has work
	watches  map[string][]*Watch     // guarded by mu; WATCHes, per key
	used     int64                   // guarded by mu
	stats    Stats                   // guarded by mu
}

// deadline is an item of the index of keys with a TTL.
type deadline struct {
	at int64
	e  *entry
}

func byDeadline(a, b deadline) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.e.key() < b.e.key()
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
	s := &Store{cfg: cfg, waiters: make(map[string][]*Waiter), isReady: make(map[string]bool)}
	s.reset()
	return s
}

// reset empties every index. s.mu must be held, or s not yet shared.
func (s *Store) reset() {
	s.entries = newIndex()
	s.order = btree.NewBTreeGOptions(byKey, btree.Options{NoLocks: true})
	s.hint = btree.PathHint{}
	s.objects = make(map[*entry]object)
	s.closeShared()
	s.expires = make(map[*entry]int64)
	s.deadline = btree.NewBTreeGOptions(byDeadline, btree.Options{NoLocks: true})
	s.queue = sieve{}
	s.used = 0
}

func (s *Store) now() int64 { return s.cfg.Now().UnixNano() }

// Now returns the time on the store's clock, which deadlines are read by.
func (s *Store) Now() time.Time { return s.cfg.Now() }

// lookup returns the live entry for key, removing it first if it expired.
// s.mu must be held.
func (s *Store) lookup(key []byte) *entry {
	e := s.entries.get(key)
	if e == nil {
		return nil
	}
	if e.is(hasTTL) && !s.live(e, s.now()) { // read the clock only for keys with one
		s.remove(e)
		s.stats.Expirations++
		return nil
	}
	return e
}

// live reports whether e has not expired at now. s.mu must be held.
func (s *Store) live(e *entry, now int64) bool {
	return !e.is(hasTTL) || nanos(s.expires[e]) > now
}

// read is lookup for commands that count as a hit or a miss.
func (s *Store) read(key []byte) *entry {
	e := s.lookup(key)
	if e == nil {
		s.stats.Misses++
		return nil
	}
	s.stats.Hits++
	e.flags |= visited
	return e
}

// insert indexes a new entry. s.mu must be held and its key absent.
func (s *Store) insert(e *entry) {
	s.entries.add(e)
	s.order.SetHint(e, &s.hint)
	if s.evicts() {
		s.queue.push(e)
	}
	s.used += s.size(e)
}

// remove deletes e from every index. s.mu must be held.
func (s *Store) remove(e *entry) {
	s.used -= s.size(e)
	s.entries.remove(e)
	s.order.DeleteHint(e, &s.hint)
	s.setExpire(e, 0)
	delete(s.objects, e)
	s.dropShared(e)
	if s.evicts() {
		s.queue.unlink(e)
	}
}

// size is what e counts for against the memory bound. s.mu must be held.
func (s *Store) size(e *entry) int64 {
	n := int64(entryOverhead + e.len())
	if o := s.objects[e]; o != nil {
		n += o.cost()
	}
	if e.is(isShared) {
		n += int64(s.shared[e].Len())
	}
	return n
}

// evicts reports whether the store evicts keys, and so keeps them in its
// SIEVE queue. Without a bound, or with NoEvict, it never does, and the
// queue would cost every key about 9 bytes for nothing.
func (s *Store) evicts() bool { return s.cfg.MaxMemory > 0 && !s.cfg.NoEvict }

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

// setExpire sets e's deadline (0 for none), keeping the deadline index in
// step. s.mu must be held.
//
// Every change to a key goes through here (setLocked, remove) or through
// the list operations, which mark the key's watches as changed.
func (s *Store) setExpire(e *entry, at int64) {
	s.touch(e.key())
	if e.is(hasTTL) {
		s.deadline.Delete(deadline{s.expires[e], e})
		delete(s.expires, e)
		e.flags &^= hasTTL
	}
	if at != 0 {
		s.expires[e] = at
		s.deadline.Set(deadline{at, e})
		e.flags |= hasTTL
	}
}

// SetOptions are SET's modifiers.
type SetOptions struct {
	TTL     time.Duration // > 0: expire after TTL
	At      time.Time     // not zero: expire at At (EXAT, PXAT)
	KeepTTL bool          // keep the key's current deadline
	NX      bool          // only set if the key does not exist
	XX      bool          // only set if the key exists
	// Take gives the store value's memory, which the caller no longer
	// uses: it keeps it rather than a copy, with the key after the value
	// if the capacity has room (resp.Reader.Owns).
	Take bool
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
	if err := checkLen(key, value); err != nil {
		return err
	}
	grow := int64(entryOverhead + len(key) + len(value))
	if e != nil {
		grow -= s.size(e)
	}
	if err := s.makeRoom(grow, e); err != nil {
		return err
	}
	var at int64
	switch {
	case opt.TTL > 0:
		at = unixMilli(s.Now().Add(opt.TTL))
	case !opt.At.IsZero():
		at = unixMilli(opt.At) // a deadline already past leaves the key expired
	case opt.KeepTTL && e != nil && e.is(hasTTL):
		at = s.expires[e]
	}
	if e == nil {
		e = &entry{}
		e.setBytes(key, value, opt.Take)
		s.insert(e)
	} else {
		// Replace the bytes, not the entry, so its SIEVE position stays.
		s.used -= s.size(e)
		delete(s.objects, e)
		s.dropShared(e)
		e.setBytes(key, value, opt.Take)
		e.flags &^= isObject
		s.used += s.size(e)
	}
	s.setExpire(e, at)
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

// readString is read for commands that need a string: it fails with
// ErrWrongType on an object. s.mu must be held.
func (s *Store) readString(key []byte) (*entry, error) {
	e := s.read(key)
	if e != nil && e.is(isObject) {
		return nil, ErrWrongType
	}
	return e, nil
}

// Get returns the string stored under key.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.readString(key)
	if e == nil {
		return nil, false, err
	}
	return s.value(e), true, nil
}

// MGet returns the strings under keys, nil where a key is missing or not a
// string.
func (s *Store) MGet(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range keys {
		if e := s.read(k); e != nil && !e.is(isObject) {
			out[i] = s.value(e)
		}
	}
	return out
}

// GetDel removes key and returns its string. Of many concurrent calls for
// one key, exactly one gets the value.
func (s *Store) GetDel(key []byte) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.readString(key)
	if e == nil {
		return nil, false, err
	}
	v := s.value(e) // before remove, which closes a shared value
	s.remove(e)
	s.stats.Pops++
	return v, true, nil
}

// IncrBy adds delta to the integer stored under key (0 if absent).
func (s *Store) IncrBy(key []byte, delta int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	var n int64
	if e != nil {
		if e.is(isObject) {
			return 0, ErrWrongType
		}
		var ok bool
		if n, ok = parseInt64(s.value(e)); !ok {
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

// Type returns the type of key's value, as TYPE names it, or "none".
func (s *Store) Type(key []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := s.lookup(key); {
	case e == nil:
		return "none"
	case e.is(isObject):
		return s.objects[e].typeName()
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
	prefix := literalPrefix(pattern)
	if prefix == pattern { // no wildcards: at most one key
		if e := s.entries.get([]byte(pattern)); e != nil && s.live(e, now) {
			out = append(out, e.key())
		}
		return out
	}
	s.order.Ascend(probe(prefix), func(e *entry) bool {
		k := e.key()
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		if Match(pattern, k) && s.live(e, now) {
			out = append(out, k)
		}
		return true
	})
	return out
}

// Len returns the number of keys, counting expired ones not yet reclaimed.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries.len()
}

// Flush removes every key.
func (s *Store) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, ws := range s.watches {
		if s.entries.get([]byte(key)) != nil { // as in Redis, only keys that were there
			for _, w := range ws {
				w.dirty = true
			}
		}
	}
	if s.cfg.Changed != nil {
		s.cfg.Changed("", true)
	}
	s.reset()
}

// SetChanged replaces Config.Changed. Once it returns, the old function
// is not running and is not called again: Changed runs with the store
// locked, and so does this.
func (s *Store) SetChanged(f func(key string, flushed bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Changed = f
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Keys = s.entries.len()
	st.Expiring = len(s.expires)
	st.UsedMemory = s.used
	st.MaxMemory = s.cfg.MaxMemory
	return st
}

// ResetStats zeroes the hit, miss, eviction, expiration and pop counters.
func (s *Store) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{}
}

// SetLimit changes the memory bound and what happens at it, while the store
// is in use. When eviction starts, every key joins the SIEVE queue, in key
// order; a lower bound evicts keys down to it at once.
func (s *Store) SetLimit(maxMemory int64, noEvict bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.evicts()
	s.cfg.MaxMemory, s.cfg.NoEvict = maxMemory, noEvict
	switch {
	case s.evicts() && !was:
		s.order.Scan(func(e *entry) bool {
			s.queue.push(e)
			return true
		})
	case !s.evicts() && was:
		s.queue = sieve{}
	}
	if s.evicts() {
		s.makeRoom(0, nil)
	}
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
