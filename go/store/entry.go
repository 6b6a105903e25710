package store

import (
	"errors"
	"math"
	"unsafe"
)

// entry is one key. It is kept to 24 bytes, one of Go's allocation size
// classes, because a cache holds millions:
//
//   - the key and a string value share one allocation, reached through a
//     bare pointer rather than a slice (which would add a length and a
//     capacity word) with the two lengths beside it;
//   - the SIEVE queue needs only the entry's slot index, not list links
//     (see sieve);
//   - the rarer parts, an object (a list...) or a deadline, live in side maps of the Store.
//
// Go's collector does not move heap objects, and a pointer to the first
// byte of an allocation keeps the whole allocation alive, so kv stays valid
// for as long as the entry points at it; key and value rebuild views of it
// with package unsafe.
type entry struct {
	kv         *byte  // vlen value bytes, then klen key bytes; never written into
	klen, vlen uint32 // at most maxLen each
	slot       uint32 // index in the SIEVE queue
	flags      uint8
}

const (
	visited  uint8 = 1 << iota // read since the SIEVE hand last passed
	isObject                   // the value is Store.objects[e], not bytes
	hasTTL                     // the deadline is Store.expires[e]
	isShared                   // the value is Store.shared[e] (shared.go)
)

// maxLen is the longest key or string value an entry can hold.
const maxLen = math.MaxUint32

var errTooLarge = errors.New("ERR string exceeds maximum allowed size (4GB)")

// checkLen fails for a key or string value too long for an entry.
func checkLen(key, value []byte) error {
	if uint64(len(key)) > maxLen || uint64(len(value)) > maxLen {
		return errTooLarge
	}
	return nil
}

// newEntry allocates an entry holding copies of key and value, which
// checkLen must have accepted.
func newEntry(key, value []byte) *entry {
	e := &entry{}
	e.setBytes(key, value, false)
	return e
}

// setBytes points e at a new allocation holding copies of key and value. The
// old bytes are left alone: values handed out earlier may still use them.
//
// The value goes first because make followed at once by copy compiles to
// one allocation that clears only what the copy does not fill: the key,
// not a value of perhaps kilobytes.
//
// With take, value's memory is the store's to keep: if its capacity has
// room for the key, the key goes there and the value is not copied.
func (e *entry) setBytes(key, value []byte, take bool) {
	var kv []byte
	if take && len(value) > 0 && cap(value)-len(value) >= len(key) {
		kv = value[:len(value)+len(key)]
		copy(kv[len(value):], key)
	} else {
		kv = joined(value, key)
	}
	e.kv, e.klen, e.vlen = unsafe.SliceData(kv), uint32(len(key)), uint32(len(value))
}

// joined returns a new allocation holding value, then key.
func joined(value, key []byte) []byte {
	kv := make([]byte, len(value)+len(key))
	copy(kv, value)
	copy(kv[len(value):], key)
	return kv
}

// key returns the key as a string without copying; kv is immutable.
func (e *entry) key() string {
	if e.klen == 0 {
		return "" // kv+vlen would point past the allocation, which the collector does not allow
	}
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(e.kv), e.vlen)), e.klen)
}

// value returns the string value. Callers may keep it: it is never
// modified, and its capacity ends with the value so appends copy.
func (e *entry) value() []byte {
	if e.vlen == 0 {
		return []byte{} // not nil: present but empty
	}
	return unsafe.Slice(e.kv, e.vlen)
}

// len returns how many key and value bytes e holds.
func (e *entry) len() int { return int(e.klen) + int(e.vlen) }

func (e *entry) is(f uint8) bool { return e.flags&f != 0 }

// byKey orders entries for the key index.
func byKey(a, b *entry) bool { return a.key() < b.key() }

// probe returns a throwaway entry to search the key index with. It shares
// key's bytes, which entries never write into.
func probe(key string) *entry {
	return &entry{kv: unsafe.StringData(key), klen: uint32(len(key))}
}
