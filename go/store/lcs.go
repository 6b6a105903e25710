package store

// Strings returns the strings under keys, in order, an empty one where a
// key is missing (LCS reads both of its keys so), or ErrWrongType if any
// holds another type.
func (s *Store) Strings(keys ...[]byte) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		e, err := s.readString(k)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out[i] = s.value(e)
		}
	}
	return out, nil
}
