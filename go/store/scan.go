package store

// maxCursors bounds the SCAN positions remembered; the oldest are forgotten.
const maxCursors = 1024

// cursors remembers, for each SCAN cursor handed out, the key to resume
// from. Cursors are numbers because clients parse them as integers.
type cursors struct {
	next uint64
	from map[uint64]string
	fifo []uint64
}

func (c *cursors) save(from string) uint64 {
	if c.from == nil {
		c.from = make(map[uint64]string)
	}
	c.next++
	c.from[c.next] = from
	c.fifo = append(c.fifo, c.next)
	if len(c.fifo) > maxCursors {
		delete(c.from, c.fifo[0])
		c.fifo = c.fifo[1:]
	}
	return c.next
}

// Scan returns up to count keys matching pattern, in key order, starting
// where cursor left off, and the cursor to continue from (0 when done).
// Keys present for the whole iteration are returned exactly once. An
// unknown or forgotten cursor starts over.
func (s *Store) Scan(cursor uint64, pattern string, count int) (uint64, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := ""
	if cursor != 0 {
		from = s.cursors.from[cursor]
	}
	now := s.now()
	var out []string
	var resume string
	more := false
	s.scanFrom(pattern, from, func(e *entry) bool {
		if len(out) == count {
			resume, more = e.key(), true
			return false
		}
		if s.live(e, now) {
			out = append(out, e.key())
		}
		return true
	})
	if !more {
		return 0, out
	}
	return s.cursors.save(resume), out
}
