package store

import (
	"errors"
	"math/big"
)

// hash is the value of a hash key: fields and their values.
type hash struct{ members }

func (h *hash) typeName() string { return "hash" }
func (h *hash) clone() object    { return &hash{h.copyMembers()} }

// Errors of HINCRBY and HINCRBYFLOAT, in Redis's words.
var (
	ErrHashNotInteger = errors.New("ERR hash value is not an integer")
	ErrHashNotFloat   = errors.New("ERR hash value is not a float")
	ErrNaNOrInfinity  = errors.New("ERR value is NaN or Infinity")
	ErrOverflow       = errors.New("ERR increment or decrement would overflow")
)

// newHash returns key's hash, creating it empty if key is absent, having
// made room for need more bytes (see createSized). s.mu must be held.
func (s *Store) newHash(key []byte, need int64) (*entry, *hash, error) {
	return createSized(s, key, need, func() *hash { return &hash{newMembers()} })
}

// HSet sets the fields of key's hash to the values of pairs (field,
// value, field, value, ...), creating the hash, and returns how many
// fields are new. With nx a field that is there keeps its value (HSETNX).
func (s *Store) HSet(key []byte, pairs [][]byte, nx bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, h, err := objectFor[*hash](s, key); err != nil || nx && e != nil && h.holdsFields(pairs) {
		return 0, err // as in Redis, no change is not a write: WATCH and the near cache see none
	}
	var need int64
	for _, p := range pairs {
		need += int64(len(p))
	}
	e, h, err := s.newHash(key, need+int64(len(pairs)/2)*memberOverhead)
	if err != nil {
		return 0, err
	}
	added := 0
	s.change(e, func() {
		for i := 0; i+1 < len(pairs); i += 2 {
			if nx {
				if _, had := h.get(pairs[i]); had {
					continue
				}
			}
			if h.put(pairs[i], pairs[i+1]) {
				added++
			}
		}
	})
	return added, nil
}

// holdsFields reports whether h has every field of pairs (field, value,
// field, value, ...).
func (h *hash) holdsFields(pairs [][]byte) bool {
	for i := 0; i < len(pairs); i += 2 {
		if _, ok := h.get(pairs[i]); !ok {
			return false
		}
	}
	return true
}

// HGet returns the value of field in key's hash.
func (s *Store) HGet(key, field []byte) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, h, err := readObject[*hash](s, key)
	if e == nil {
		return nil, false, err
	}
	it, ok := h.get(field)
	return it.value, ok, nil
}

// HMGet returns the values of fields in key's hash, nil where missing.
func (s *Store) HMGet(key []byte, fields [][]byte) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, h, err := readObject[*hash](s, key)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(fields))
	if e != nil {
		for i, f := range fields {
			if it, ok := h.get(f); ok {
				out[i] = it.value
			}
		}
	}
	return out, nil
}

// HGetAll returns every field of key's hash with its value (HGETALL,
// HKEYS, HVALS), in no particular order.
func (s *Store) HGetAll(key []byte) ([]Field, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, h, err := readObject[*hash](s, key)
	if e == nil {
		return nil, err
	}
	return fields(h.all()), nil
}

// HDel removes fields from key's hash and returns how many were there. An
// emptied hash is deleted.
func (s *Store) HDel(key []byte, fields [][]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, h, err := objectFor[*hash](s, key)
	if e == nil || !h.holdsAny(fields) {
		return 0, err
	}
	n := 0
	s.change(e, func() {
		for _, f := range fields {
			if h.del(f) {
				n++
			}
		}
	})
	return n, nil
}

// HLen returns the number of fields in key's hash, 0 if absent.
func (s *Store) HLen(key []byte) (int, error) { return cardinality[*hash](s, key) }

// cardinality returns the number of elements of key's T, 0 if absent.
func cardinality[T object](s *Store, key []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, o, err := readObject[T](s, key)
	if e == nil {
		return 0, err
	}
	return o.len(), nil
}

// HIncrBy adds delta to the integer in field of key's hash (0 if absent)
// and returns the sum.
func (s *Store) HIncrBy(key, field []byte, delta int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.hashValue(key, field)
	if err != nil {
		return 0, err
	}
	var n int64
	if old != nil {
		var ok bool
		if n, ok = parseInt64(old); !ok {
			return 0, ErrHashNotInteger
		}
	}
	if (delta > 0 && n > maxInt64-delta) || (delta < 0 && n < minInt64-delta) {
		return 0, ErrOverflow
	}
	n += delta
	return n, s.hashPut(key, field, appendInt(nil, n))
}

// HIncrByFloat adds incr, a decimal number, to the number in field of
// key's hash (0 if absent) and returns the sum as stored: in long double
// precision, as INCRBYFLOAT does (see IncrByFloat).
func (s *Store) HIncrByFloat(key, field, incr []byte) ([]byte, error) {
	d, ok := parseLongDouble(incr)
	switch {
	case !ok:
		return nil, ErrNotFloat
	case d.IsInf():
		return nil, ErrNaNOrInfinity
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.hashValue(key, field)
	if err != nil {
		return nil, err
	}
	n := new(big.Float).SetPrec(longDoublePrec)
	if old != nil {
		if n, ok = parseLongDouble(old); !ok {
			return nil, ErrHashNotFloat
		}
	}
	v, err := addLongDouble(n, d)
	if err != nil {
		return nil, err
	}
	return v, s.hashPut(key, field, v)
}

// hashValue returns the value of field in key's hash, nil if either is
// absent. s.mu must be held.
func (s *Store) hashValue(key, field []byte) ([]byte, error) {
	e, h, err := objectFor[*hash](s, key)
	if e == nil {
		return nil, err
	}
	it, _ := h.get(field)
	return it.value, nil
}

// hashPut sets field of key's hash to value, creating the hash. s.mu must
// be held.
func (s *Store) hashPut(key, field, value []byte) error {
	e, h, err := s.newHash(key, int64(len(field)+len(value)+memberOverhead))
	if err != nil {
		return err
	}
	s.change(e, func() { h.put(field, value) })
	return nil
}

// HRandField calls each with count fields of key's hash picked at random,
// with their values, and their number (see members.random): distinct
// ones, or with repeat, count picks that may repeat. It calls each for
// none if key is absent, and stops once each returns false. each runs
// with the store locked and must not use it.
func (s *Store) HRandField(key []byte, count int, repeat bool, each func(total int, f Field) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, h, err := readObject[*hash](s, key)
	if e == nil {
		return err
	}
	h.random(count, repeat, func(total int, it member) bool { return each(total, Field{it.name, it.value}) })
	return nil
}

// HScan is SCAN over the fields of key's hash: the fields (with values)
// matching pattern that one call examines from cursor on, and the cursor
// to continue from, 0 at the end (see members.scan).
func (s *Store) HScan(key []byte, cursor uint64, pattern string, count int) (uint64, []Field, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, h, err := readObject[*hash](s, key)
	if e == nil {
		return 0, nil, err
	}
	next, found := h.scan(cursor, pattern, count)
	return next, fields(found), nil
}
