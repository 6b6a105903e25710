package store

// An object is the value of a key that is not a string: a list, or any
// other type a command family adds. Objects live in Store.objects, keyed by
// their entry, which carries the isObject flag; a string's bytes live in
// the entry itself (see entry).
//
// A new type is a Go type with these three methods, a file of operations
// that reach it through objectFor and createObject, and change for every
// edit, so that the memory bound, WATCH, tracking and the near cache see it
// like any other key.
type object interface {
	// typeName is TYPE's reply for the key, as in Redis.
	typeName() string
	// len counts the elements. A key whose object a command empties is
	// deleted (see change), as Redis deletes empty aggregates (streams aside:
	// see keptEmpty).
	len() int
	// cost is what the elements count for against the memory bound,
	// their per-element overhead included.
	cost() int64
	// clone returns a copy that shares no mutable state with the
	// original (for COPY). Element bytes, never modified once stored,
	// may be shared.
	clone() object
}

// elemOverhead approximates what one element of an object costs beyond its
// bytes: the slice or map slot that holds it, and its allocation's header.
const elemOverhead = 32

// keptEmpty reports whether o stays when emptied: a stream does, as in
// Redis (its last ID with it), marked by a keptEmpty method.
func keptEmpty(o object) bool {
	_, ok := o.(interface{ keptEmpty() })
	return ok
}

// objectFor returns key's live entry and its object, which must be a T:
// (nil, zero, nil) if key is absent, ErrWrongType if it holds another type.
// s.mu must be held.
func objectFor[T object](s *Store, key []byte) (*entry, T, error) {
	var none T
	e := s.lookup(key)
	if e == nil {
		return nil, none, nil
	}
	o, ok := s.objects[e].(T)
	if !ok {
		return nil, none, ErrWrongType
	}
	return e, o, nil
}

// createObject is objectFor that makes key's object with empty if key is
// absent, evicting anything but keep to make room for its entry. s.mu
// must be held.
func createObject[T object](s *Store, key []byte, empty func() T, keep *entry) (*entry, T, error) {
	e, o, err := objectFor[T](s, key)
	if e != nil || err != nil {
		return e, o, err
	}
	if err := checkLen(key, nil); err != nil {
		return nil, o, err
	}
	if err := s.makeRoom(int64(entryOverhead+len(key)), keep); err != nil {
		return nil, o, err
	}
	e, o = newEntry(key, nil), empty()
	e.flags |= isObject
	s.objects[e] = o
	s.insert(e)
	s.touch(e.key())
	return e, o, nil
}

// change runs edit, which changes e's object, keeping the memory count in
// step; it marks the key changed and deletes it if edit left the object
// empty. It reports whether the key is still there. s.mu must be held.
func (s *Store) change(e *entry, edit func()) bool {
	s.used -= s.size(e)
	edit()
	s.used += s.size(e)
	s.touch(e.key())
	if o := s.objects[e]; o.len() == 0 && !keptEmpty(o) {
		s.remove(e)
		return false
	}
	return true
}
