package store

import (
	"hash/maphash"
	"strings"

	"github.com/tidwall/btree"
)

// index finds entries by key. It is a Go map keyed by a 64-bit hash of the
// key rather than by the key: a string map key costs 16 bytes in every map
// slot, and a map keeps up to half its slots empty, where a uint64 costs 8.
// At a million keys that is 38 bytes a key instead of 56.
//
// Two of n keys share a hash with probability about n²/2⁶⁵, one in 37
// million at a million keys. The entries' own keys then tell them apart:
// the second key of such a pair waits in clash, which is otherwise empty.
// The seed is random per index, so clients cannot choose keys that clash.
//
// The hashes are also kept in order, for SCAN: a position in that order is
// a number, so a cursor can carry it and the server remember nothing.
type index struct {
	seed   maphash.Seed
	mask   uint64            // all ones; tests narrow it to force clashes
	byHash map[uint64]*entry // by hash of the key
	clash  map[string]*entry // keys whose hash byHash holds for another key
	hashes btree.Set[uint64] // the hashes byHash holds, in order
}

func newIndex() index {
	return index{seed: maphash.MakeSeed(), mask: ^uint64(0), byHash: make(map[uint64]*entry)}
}

func (x *index) hash(key string) uint64 { return maphash.String(x.seed, key) & x.mask }

func (x *index) len() int { return len(x.byHash) + len(x.clash) }

// get returns the entry for key, or nil.
func (x *index) get(key []byte) *entry {
	e := x.byHash[maphash.Bytes(x.seed, key)&x.mask]
	if e == nil || e.key() == string(key) {
		return e
	}
	return x.clash[string(key)]
}

// add indexes e, whose key must be absent.
func (x *index) add(e *entry) {
	h := x.hash(e.key())
	if x.byHash[h] == nil {
		x.byHash[h] = e
		x.hashes.Insert(h)
		return
	}
	if x.clash == nil {
		x.clash = make(map[string]*entry)
	}
	// A copy of the key: e's bytes change when its value does.
	x.clash[strings.Clone(e.key())] = e
}

// remove drops e, which must be indexed. If e held its hash in byHash, a
// key that clashed with it takes its place.
func (x *index) remove(e *entry) {
	h := x.hash(e.key())
	if x.byHash[h] != e {
		delete(x.clash, e.key())
		return
	}
	delete(x.byHash, h)
	for k, other := range x.clash {
		if x.hash(k) == h {
			delete(x.clash, k)
			x.byHash[h] = other
			return
		}
	}
	x.hashes.Delete(h)
}

// ascend calls fn with each hash at or after from, in ascending order,
// until fn returns false.
func (x *index) ascend(from uint64, fn func(h uint64) bool) {
	x.hashes.Ascend(from, fn)
}

// withHash calls fn for each entry whose key has hash h: one, unless keys
// clash.
func (x *index) withHash(h uint64, fn func(*entry)) {
	if e := x.byHash[h]; e != nil {
		fn(e)
	}
	for k, e := range x.clash { // almost always empty
		if x.hash(k) == h {
			fn(e)
		}
	}
}
