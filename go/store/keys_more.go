package store

import (
	"errors"
	"math/rand/v2"
)

// Errors of the string and key commands, as Redis words them.
var (
	ErrNoSuchKey  = errors.New("ERR no such key")
	ErrSameObject = errors.New("ERR source and destination objects are the same")
	// ErrStringSize is Redis's refusal of a string past proto-max-bulk-len
	// (512 MiB) built by APPEND or SETRANGE.
	ErrStringSize = errors.New("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
)

// maxString is Redis's default proto-max-bulk-len: the longest string that
// APPEND and SETRANGE build.
const maxString = 512 << 20

// Append appends value to key's string, creating it if absent, and returns
// the new length (APPEND). The key's deadline stays.
func (s *Store) Append(key, value []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.readString(key)
	if err != nil {
		return 0, err
	}
	var old []byte
	if e != nil {
		old = s.value(e)
	}
	if len(old)+len(value) > maxString {
		return 0, ErrStringSize
	}
	v := make([]byte, 0, len(old)+len(value)+len(key))
	v = append(append(v, old...), value...)
	if err := s.setLocked(key, e, v, SetOptions{KeepTTL: true, Take: true}); err != nil {
		return 0, err
	}
	return len(v), nil
}

// GetRange returns the bytes start..end (inclusive; negative counts from
// the end) of key's string, as GETRANGE clamps them: empty if the key is
// absent or the range is.
func (s *Store) GetRange(key []byte, start, end int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.readString(key)
	if e == nil {
		return nil, err
	}
	v := s.value(e)
	n := int64(len(v))
	if start < 0 && end < 0 && start > end {
		return nil, nil
	}
	if start < 0 {
		start = max(n+start, 0)
	}
	if end < 0 {
		end = max(n+end, 0)
	}
	end = min(end, n-1)
	if start > end || n == 0 {
		return nil, nil
	}
	return v[start : end+1], nil
}

// SetRange overwrites key's string from offset with value, padding with
// zero bytes past its end, and returns the new length (SETRANGE). An
// absent key is created, unless value is empty. The deadline stays.
func (s *Store) SetRange(key []byte, offset int64, value []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.readString(key)
	if err != nil {
		return 0, err
	}
	var old []byte
	if e != nil {
		old = s.value(e)
	}
	if len(value) == 0 {
		return len(old), nil
	}
	if offset+int64(len(value)) > maxString {
		return 0, ErrStringSize
	}
	n := max(len(old), int(offset)+len(value))
	v := make([]byte, n, n+len(key))
	copy(v, old)
	copy(v[offset:], value)
	if err := s.setLocked(key, e, v, SetOptions{KeepTTL: true, Take: true}); err != nil {
		return 0, err
	}
	return n, nil
}

// StrLen returns the length of key's string, 0 if absent.
func (s *Store) StrLen(key []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.readString(key)
	if e == nil {
		return 0, err
	}
	return int(e.vlen), nil
}

// MSetNX sets every key/value pair, only if none of the keys exists, of
// whatever type, and reports whether it did.
func (s *Store) MSetNX(pairs [][]byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < len(pairs); i += 2 {
		if s.lookup(pairs[i]) != nil {
			return false, nil
		}
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := s.setLocked(pairs[i], s.lookup(pairs[i]), pairs[i+1], SetOptions{}); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Rename moves src's value, of any type, and its deadline to dst,
// replacing what dst held, unless nx and dst exists; it reports whether it
// moved (RENAME, RENAMENX). Both keys are marked changed, and pops blocked
// on dst are served by the next ServeReady. A missing src is ErrNoSuchKey;
// src == dst moves nothing.
func (s *Store) Rename(src, dst []byte, nx bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(src)
	switch {
	case e == nil:
		return false, ErrNoSuchKey
	case string(src) == string(dst):
		return !nx, nil
	}
	if d := s.lookup(dst); d != nil {
		if nx {
			return false, nil
		}
		s.remove(d)
	}
	var at int64
	if e.is(hasTTL) {
		at = s.expires[e]
	}
	o := s.objects[e]
	ne := newEntry(dst, s.value(e))
	if o != nil {
		ne = newEntry(dst, nil)
	}
	s.remove(e) // marks src changed
	s.add(ne, o, at)
	return true, nil
}

// Copy copies src's value, of any type, and its deadline to dst, which
// must not exist unless replace, and reports whether it copied (COPY).
func (s *Store) Copy(src, dst []byte, replace bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if string(src) == string(dst) {
		return false, ErrSameObject
	}
	e := s.lookup(src)
	if e == nil {
		return false, nil
	}
	d := s.lookup(dst)
	if d != nil && !replace {
		return false, nil
	}
	grow := s.size(e) - int64(len(src)) + int64(len(dst))
	if d != nil {
		grow -= s.size(d)
	}
	if err := s.makeRoom(grow, e); err != nil {
		return false, err
	}
	if d = s.lookup(dst); d != nil { // makeRoom may have evicted it
		s.remove(d)
	}
	var at int64
	if e.is(hasTTL) {
		at = s.expires[e]
	}
	var o object
	ne := newEntry(dst, s.value(e))
	if s.objects[e] != nil {
		o, ne = s.objects[e].clone(), newEntry(dst, nil)
	}
	s.add(ne, o, at)
	return true, nil
}

// add indexes ne, a new entry whose key is absent, with its object (nil
// for a string) and deadline (0 for none), marks its key changed, and lets
// pops blocked on it be served. s.mu must be held.
func (s *Store) add(ne *entry, o object, at int64) {
	if o != nil {
		ne.flags |= isObject
		s.objects[ne] = o
	}
	s.insert(ne)
	s.setExpire(ne, at) // marks the key changed
	s.signal(ne.key())
}

// RandomKey returns a live key picked at random, or false if there is none.
// Expired keys met on the way are removed, as Redis does.
func (s *Store) RandomKey() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for s.order.Len() > 0 {
		e, _ := s.order.GetAt(rand.IntN(s.order.Len()))
		if s.live(e, now) {
			return e.key(), true
		}
		s.remove(e)
		s.stats.Expirations++
	}
	return "", false
}
