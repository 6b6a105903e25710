package store

import (
	"hash/maphash"
	"math/rand/v2"
	"unsafe"

	"github.com/tidwall/btree"
)

// member is an element of a hash or a set: its name and, in a hash, its
// value. Members are kept in the order of their names' 64-bit hashes, as
// the keyspace is for SCAN (see index), and that order does the work of
// the commands that Redis builds on its dict:
//
//   - HSCAN and SSCAN take a cursor that is a hash to resume at, so the
//     server keeps no state for a scan, and a member present for the whole
//     iteration is returned exactly once;
//   - HRANDFIELD, SRANDMEMBER and SPOP pick members uniformly at random by
//     their position, in O(log n) (the B-tree counts its items).
type member struct {
	h     uint64
	name  string
	value []byte // nil in a set
}

func byHashThenName(a, b member) bool {
	if a.h != b.h {
		return a.h < b.h
	}
	return a.name < b.name
}

// memberSeed seeds the hashes of every hash's and set's members. One seed
// for the process keeps the order of a copy (COPY) that of its original;
// being random, clients cannot choose names that share a hash, and names
// that do are told apart by byHashThenName anyway.
var memberSeed = maphash.MakeSeed()

// memberOverhead approximates what one member costs beyond its name and
// value bytes: its 48-byte item in a B-tree node (nodes are kept at least
// half full) and the headers of its name's and value's allocations.
const memberOverhead = 2 * elemOverhead

// members is the collection shared by hashes and sets: distinct names,
// each with a value in a hash.
type members struct {
	t     *btree.BTreeG[member]
	bytes int64 // sum of the names' and values' lengths
}

func newMembers() members {
	return members{t: btree.NewBTreeGOptions(byHashThenName, btree.Options{NoLocks: true})}
}

func (m *members) len() int    { return m.t.Len() }
func (m *members) cost() int64 { return m.bytes + int64(m.t.Len())*memberOverhead }

// copyMembers is clone's work: the tree is copied lazily, node by node as
// either side writes, and the bytes it holds are never written into.
func (m *members) copyMembers() members { return members{t: m.t.Copy(), bytes: m.bytes} }

// probeMember returns the member to look name up with, sharing name's bytes.
func probeMember(name []byte) member {
	return member{h: maphash.Bytes(memberSeed, name), name: unsafe.String(unsafe.SliceData(name), len(name))}
}

// get returns name's member.
func (m *members) get(name []byte) (member, bool) { return m.t.Get(probeMember(name)) }

// put stores copies of name and value (a hash's field), replacing name's
// value if it had one, and reports whether name is new.
func (m *members) put(name, value []byte) bool {
	return m.store(name, append(make([]byte, 0, len(value)), value...)) // never nil: present
}

// add stores a copy of name (a set's member) and reports whether it is new.
func (m *members) add(name []byte) bool { return m.store(name, nil) }

// store files name with value, which it keeps.
func (m *members) store(name, value []byte) bool {
	it := probeMember(name)
	old, had := m.t.Get(it)
	if had {
		it.name = old.name
		m.bytes -= int64(len(old.value))
	} else {
		it.name = string(name)
		m.bytes += int64(len(name))
	}
	it.value = value
	m.bytes += int64(len(value))
	m.t.Set(it)
	return !had
}

// holdsAll reports whether every one of names is a member.
func (m *members) holdsAll(names [][]byte) bool {
	for _, n := range names {
		if _, ok := m.get(n); !ok {
			return false
		}
	}
	return true
}

// holdsAny reports whether any of names is a member.
func (m *members) holdsAny(names [][]byte) bool {
	for _, n := range names {
		if _, ok := m.get(n); ok {
			return true
		}
	}
	return false
}

// del removes name and reports whether it was there.
func (m *members) del(name []byte) bool {
	old, had := m.t.Delete(probeMember(name))
	if had {
		m.bytes -= int64(len(old.name) + len(old.value))
	}
	return had
}

// popAt removes and returns the i-th member.
func (m *members) popAt(i int) member {
	old, _ := m.t.DeleteAt(i)
	m.bytes -= int64(len(old.name) + len(old.value))
	return old
}

// all returns every member, in hash order.
func (m *members) all() []member { return m.t.Items() }

// random calls each with count members picked at random, and their
// number (the same in every call): distinct ones (all of them if count is
// at least their number), or with repeat count picks that may repeat. It
// stops early if each returns false, so that a caller bounding its reply
// need not hold every pick of a huge count at once.
func (m *members) random(count int, repeat bool, each func(total int, it member) bool) {
	n := m.len()
	switch {
	case repeat:
		for range count {
			it, _ := m.t.GetAt(rand.IntN(n))
			if !each(count, it) {
				return
			}
		}
	case count >= n:
		m.t.Scan(func(it member) bool { return each(n, it) })
	default:
		for _, i := range sample(n, count) {
			it, _ := m.t.GetAt(i)
			if !each(count, it) {
				return
			}
		}
	}
}

// sample returns count distinct positions in [0, n), in random order:
// drawn and redrawn on a clash while they are few, otherwise the head of
// a shuffle.
func sample(n, count int) []int {
	if count > n/4 {
		return rand.Perm(n)[:count]
	}
	seen := make(map[int]bool, count)
	out := make([]int, 0, count)
	for len(out) < count {
		if i := rand.IntN(n); !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

// scan returns the members matching pattern among those one HSCAN or
// SSCAN call examines from cursor on, and the cursor to continue from: 0
// once the iteration is over. Like the keyspace's Scan, a call stops once
// it has count members or has examined scanWork*count, always between two
// hashes.
func (m *members) scan(cursor uint64, pattern string, count int) (uint64, []member) {
	count = max(count, 1)
	budget := scanWork * min(count, 1<<40)
	var out []member
	next, examined, last := uint64(0), 0, uint64(0)
	m.t.Ascend(member{h: cursor}, func(it member) bool {
		if (len(out) >= count || examined >= budget) && it.h != last {
			next = it.h // > cursor: this call examined at least one hash
			return false
		}
		examined++
		last = it.h
		if pattern == "*" || Match(pattern, it.name) {
			out = append(out, it)
		}
		return true
	})
	return next, out
}

// readObject is objectFor for reads that count as a hit or a miss (and a
// visit, for eviction), as read is for strings. s.mu must be held.
func readObject[T object](s *Store, key []byte) (*entry, T, error) {
	e, o, err := objectFor[T](s, key)
	switch {
	case err != nil:
	case e == nil:
		s.stats.Misses++
	default:
		s.stats.Hits++
		e.flags |= visited
	}
	return e, o, err
}

// createSized is createObject for an edit that grows key's object by
// need bytes: it makes room for them first, evicting anything but key
// itself, or fails with ErrOOM having changed nothing. s.mu must be held.
func createSized[T object](s *Store, key []byte, need int64, empty func() T) (*entry, T, error) {
	e, o, err := objectFor[T](s, key)
	if err != nil {
		return nil, o, err
	}
	if e == nil {
		need += int64(entryOverhead + len(key)) // and createObject's is then made already
	}
	if err := s.makeRoom(need, e); err != nil {
		return nil, o, err
	}
	return createObject(s, key, empty, nil)
}

// Field is a hash's field and its value, or a set's member (Value nil).
type Field struct {
	Name  string
	Value []byte
}

func fields(ms []member) []Field {
	out := make([]Field, len(ms))
	for i, it := range ms {
		out[i] = Field{it.name, it.value}
	}
	return out
}

func names(ms []member) []string {
	out := make([]string, len(ms))
	for i, it := range ms {
		out[i] = it.name
	}
	return out
}
