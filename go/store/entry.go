package store

import "unsafe"

// entry is one key. It is kept small because a cache holds millions: the
// key and a string value share one allocation, and the rarer parts (a list,
// a deadline) live in side maps of the Store.
type entry struct {
	kv    []byte // the key's bytes, then the value's; never written into
	klen  uint32
	flags uint8

	// SIEVE queue, newest at the head.
	prev, next *entry
}

const (
	visited uint8 = 1 << iota // read since the SIEVE hand last passed
	isList                    // the value is Store.lists[e]
	hasTTL                    // the deadline is Store.expires[e]
)

// newEntry allocates an entry holding copies of key and value.
func newEntry(key, value []byte) *entry {
	kv := make([]byte, len(key)+len(value))
	copy(kv, key)
	copy(kv[len(key):], value)
	return &entry{kv: kv, klen: uint32(len(key))}
}

// key returns the key as a string without copying; kv is immutable.
func (e *entry) key() string {
	if e.klen == 0 {
		return ""
	}
	return unsafe.String(&e.kv[0], int(e.klen))
}

// value returns the string value. Callers may keep it: it is never modified.
func (e *entry) value() []byte { return e.kv[e.klen:len(e.kv):len(e.kv)] }

func (e *entry) is(f uint8) bool { return e.flags&f != 0 }

// byKey orders entries for the key index.
func byKey(a, b *entry) bool { return a.key() < b.key() }

// probe returns a throwaway entry to search the key index with.
func probe(key string) *entry {
	return &entry{kv: []byte(key), klen: uint32(len(key))}
}
