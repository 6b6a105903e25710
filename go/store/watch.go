package store

// A Watch records whether any of the keys it watches has changed (been
// written, deleted, expired, evicted or given a new deadline) since it
// began watching them: WATCH's check-and-set for MULTI/EXEC.
type Watch struct {
	keys  []string
	dirty bool // guarded by the store's mu
}

// Watch adds keys to w, or to a new Watch if w is nil, and returns it.
// Keys already past their deadline are reclaimed first, so their
// expiry does not count as a change.
func (s *Store) Watch(w *Watch, keys [][]byte) *Watch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w == nil {
		w = &Watch{}
	}
	if s.watches == nil {
		s.watches = make(map[string][]*Watch)
	}
	for _, k := range keys {
		s.lookup(k)
		if watching(s.watches[string(k)], w) {
			continue // watching a key twice would only cost memory
		}
		key := string(k)
		w.keys = append(w.keys, key)
		s.watches[key] = append(s.watches[key], w)
	}
	return w
}

func watching(ws []*Watch, w *Watch) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// Changed reports whether a key watched by w has changed since it was
// watched. A key whose deadline has passed meanwhile counts as changed.
func (s *Store) Changed(w *Watch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range w.keys {
		if w.dirty {
			break
		}
		s.lookup([]byte(k)) // an expired key is removed, which touches it
	}
	return w.dirty
}

// Unwatch stops w watching its keys.
func (s *Store) Unwatch(w *Watch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range w.keys {
		ws := s.watches[k]
		for i, x := range ws {
			if x == w {
				ws = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(s.watches, k)
		} else {
			s.watches[k] = ws
		}
	}
	w.keys = nil
}

// touch is the store's one notice that key changed: it marks the watches
// of key as changed and tells Config.Changed (client-side caching's
// tracking). s.mu must be held. It costs a length check and a nil check
// while nobody watches and nothing listens.
func (s *Store) touch(key string) {
	if s.cfg.Changed != nil {
		s.cfg.Changed(key, false)
	}
	if len(s.watches) == 0 {
		return
	}
	for _, w := range s.watches[key] {
		w.dirty = true
	}
}
