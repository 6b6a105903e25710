package store

// Values in shared memory: a string value that lives not in the store's
// heap but in a sealed memory file (on Linux a memfd, see
// go/server/shared.go), which clients map instead of copying the bytes
// through a socket. The store only keeps and accounts for it; what the
// file is and how it is read is the Shared implementation's.
//
// Such an entry holds its key alone (vlen 0) with the isShared flag, and
// its value in Store.shared. It is a string like any other: every command
// that reads the value gets a copy of its bytes (value), every change and
// removal closes the file (dropShared), and it counts its size against
// MaxMemory, so eviction drops it like any other key.

// Shared is a value in shared memory, immutable once made.
type Shared interface {
	// Len is the value's size in bytes.
	Len() int
	// Bytes returns a copy of the value, for the commands that read it
	// as a string (GET over TCP, APPEND, GETRANGE...).
	Bytes() []byte
	// Close releases the store's hold on it; a copy handed out before
	// (a duplicate descriptor, a client's mapping) lives on.
	Close()
}

// value returns e's string value; for a shared one, a copy. s.mu must be held.
func (s *Store) value(e *entry) []byte {
	if e.is(isShared) {
		return s.shared[e].Bytes()
	}
	return e.value()
}

// dropShared closes e's shared value, if it has one, and forgets it. The
// caller has already taken its size off s.used. s.mu must be held.
func (s *Store) dropShared(e *entry) {
	if e.is(isShared) {
		s.shared[e].Close()
		delete(s.shared, e)
		e.flags &^= isShared
	}
}

// closeShared closes every shared value and starts an empty map (reset).
func (s *Store) closeShared() {
	for _, v := range s.shared {
		v.Close()
	}
	s.shared = make(map[*entry]Shared)
}

// SetShared stores v under key as Set stores a value, with the same
// options (Take aside), and reports whether it did. Once it has, v is the
// store's, which closes it when the key changes or goes; otherwise (NX,
// XX, an error) it is still the caller's.
func (s *Store) SetShared(key []byte, v Shared, opt SetOptions) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	if (opt.NX && e != nil) || (opt.XX && e == nil) {
		return false, nil
	}
	need := int64(entryOverhead + len(key) + v.Len())
	if e != nil {
		need -= s.size(e)
	}
	if err := s.makeRoom(need, e); err != nil {
		return false, err
	}
	// As a string of no bytes, which tells every watcher of the change;
	// then the value goes beside it.
	if err := s.setLocked(key, e, nil, opt); err != nil {
		return false, err
	}
	e = s.entries.get(key)
	e.flags |= isShared
	s.shared[e] = v
	s.used += int64(v.Len())
	return true, nil
}

// ReadShared reads the string under key for a client that can map shared
// memory: for a shared value it calls take with it, with the store locked
// (to duplicate its descriptor, say), and returns nil bytes; for any other
// string it returns the bytes, as Get does. With del the key goes too, as
// GetDel takes it: of many concurrent calls for one key, exactly one gets
// the value.
func (s *Store) ReadShared(key []byte, del bool, take func(Shared) error) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.readString(key)
	if e == nil {
		return nil, false, err
	}
	var v []byte
	if e.is(isShared) {
		if err := take(s.shared[e]); err != nil {
			return nil, false, err
		}
	} else {
		v = e.value()
	}
	if del {
		s.remove(e)
		s.stats.Pops++
	}
	return v, true, nil
}
