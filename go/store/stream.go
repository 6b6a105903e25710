package store

import (
	"errors"
	"math"

	"github.com/tidwall/btree"
)

// Streams: the value of a key that XADD appends to, as far as job queues
// use it (RQ writes a job's results with XADD ... MAXLEN ~ n and reads them
// with XREVRANGE): entries ordered by ID, each a list of field/value pairs.
// Consumer groups are not here.

// A StreamID is an entry's ID, milliseconds-sequence, as Redis orders them.
type StreamID struct{ Ms, Seq uint64 }

// MaxStreamID is "+", the highest ID.
var MaxStreamID = StreamID{math.MaxUint64, math.MaxUint64}

// Less orders IDs.
func (a StreamID) Less(b StreamID) bool {
	return a.Ms < b.Ms || a.Ms == b.Ms && a.Seq < b.Seq
}

// Next is the ID after a; ok is false for MaxStreamID.
func (a StreamID) Next() (StreamID, bool) {
	switch {
	case a.Seq < math.MaxUint64:
		return StreamID{a.Ms, a.Seq + 1}, true
	case a.Ms < math.MaxUint64:
		return StreamID{a.Ms + 1, 0}, true
	}
	return a, false
}

// Prev is the ID before a; ok is false for 0-0.
func (a StreamID) Prev() (StreamID, bool) {
	switch {
	case a.Seq > 0:
		return StreamID{a.Ms, a.Seq - 1}, true
	case a.Ms > 0:
		return StreamID{a.Ms - 1, math.MaxUint64}, true
	}
	return a, false
}

// A StreamEntry is one entry: its ID and its fields and values, alternating.
// Entries are never modified once stored.
type StreamEntry struct {
	ID     StreamID
	Fields [][]byte
}

func (e StreamEntry) cost() int64 {
	n := int64(streamEntryOverhead)
	for _, f := range e.Fields {
		n += int64(len(f)) + fieldOverhead
	}
	return n
}

const (
	// streamEntryOverhead is what an entry costs beyond its fields: its
	// slot in the ordered index (ID and slice header) and its allocation.
	streamEntryOverhead = elemOverhead + 40
	// fieldOverhead is a field's or value's slice header.
	fieldOverhead = 24
)

// stream is the value of a stream key. last is the highest ID it ever
// held, which XADD's new IDs must exceed even after that entry is deleted.
// An emptied stream stays (see keptEmpty), as in Redis: its last ID with it.
type stream struct {
	entries *btree.BTreeG[StreamEntry]
	last    StreamID
	bytes   int64 // the entries' cost
}

func newStream() *stream {
	return &stream{entries: btree.NewBTreeGOptions(func(a, b StreamEntry) bool { return a.ID.Less(b.ID) },
		btree.Options{NoLocks: true})}
}

func (x *stream) typeName() string { return "stream" }
func (x *stream) len() int         { return x.entries.Len() }
func (x *stream) cost() int64      { return x.bytes }
func (x *stream) keptEmpty()       {}

func (x *stream) clone() object {
	return &stream{entries: x.entries.Copy(), last: x.last, bytes: x.bytes}
}

func (x *stream) delete(id StreamID) bool {
	e, ok := x.entries.Delete(StreamEntry{ID: id})
	if ok {
		x.bytes -= e.cost()
	}
	return ok
}

// Trimming strategies.
const (
	TrimNone = iota
	TrimMaxLen
	TrimMinID
)

// XTrimOptions is XTRIM's, or XADD's trimming: keep the newest MaxLen
// entries, or those of MinID and above. Limit (0: none) bounds how many
// entries go.
//
// Approx (Redis's "~") trims exactly as well: Redis, which keeps entries in
// nodes of up to 100, then only drops whole nodes, so keeps up to a node
// more; fewer entries are a valid answer to "about n" and cost less.
type XTrimOptions struct {
	Strategy int
	MaxLen   int64
	MinID    StreamID
	Approx   bool
	Limit    int64
}

// trim removes the oldest entries as t says and returns their number.
func (x *stream) trim(t XTrimOptions) int {
	n := 0
	for (t.Limit == 0 || int64(n) < t.Limit) && x.trimsFirst(t) {
		first, _ := x.entries.Min()
		x.delete(first.ID)
		n++
	}
	return n
}

// trimsFirst reports whether t removes the oldest entry.
func (x *stream) trimsFirst(t XTrimOptions) bool {
	first, ok := x.entries.Min()
	switch {
	case !ok:
		return false
	case t.Strategy == TrimMaxLen:
		return int64(x.entries.Len()) > t.MaxLen
	case t.Strategy == TrimMinID:
		return first.ID.Less(t.MinID)
	}
	return false
}

// XAddOptions is XADD's: the ID (given as ID when IDGiven; its sequence
// chosen by XADD unless SeqGiven, the "ms-*" form), NOMKSTREAM, and the
// trimming after the entry is added.
type XAddOptions struct {
	ID                StreamID
	IDGiven, SeqGiven bool
	NoMkStream        bool
	Trim              XTrimOptions
}

var (
	ErrStreamID        = errors.New("ERR The ID specified in XADD is equal or smaller than the target stream top item")
	ErrStreamZeroID    = errors.New("ERR The ID specified in XADD must be greater than 0-0")
	ErrStreamExhausted = errors.New("ERR The stream has exhausted the last possible ID, unable to add more items")
	// errStreamSeqFull is Redis 7.0's reply when "ms-*" finds the top
	// item's sequence at its maximum: its generic append failure's.
	errStreamSeqFull = errors.New("ERR Elements are too large to be stored")
)

// XAdd appends an entry of fields (field, value, ...) to key's stream,
// creating it unless NoMkStream, then trims it, and returns its ID; ok is
// false if NoMkStream found no key.
func (s *Store) XAdd(key []byte, fields [][]byte, opt XAddOptions) (id StreamID, ok bool, err error) {
	if opt.IDGiven && opt.SeqGiven && opt.ID == (StreamID{}) {
		return id, false, ErrStreamZeroID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := objectFor[*stream](s, key)
	switch {
	case err != nil:
		return id, false, err
	case e == nil && opt.NoMkStream:
		return id, false, nil
	}
	last := StreamID{}
	if x != nil {
		last = x.last
	}
	if last == MaxStreamID {
		return id, false, ErrStreamExhausted
	}
	switch {
	case !opt.IDGiven:
		id = StreamID{uint64(max(s.cfg.Now().UnixMilli(), 0)), 0}
		if !last.Less(id) {
			id, _ = last.Next()
		}
	case !opt.SeqGiven && opt.ID.Ms == last.Ms:
		if last.Seq == math.MaxUint64 {
			return id, false, errStreamSeqFull
		}
		id = StreamID{last.Ms, last.Seq + 1}
	default:
		id = opt.ID
	}
	if !last.Less(id) {
		return id, false, ErrStreamID
	}
	entry := StreamEntry{ID: id, Fields: copyFields(fields)}
	if err := s.makeRoom(entry.cost(), e); err != nil {
		return id, false, err
	}
	if e == nil {
		if e, x, err = createObject(s, key, newStream, nil); err != nil {
			return id, false, err
		}
	}
	s.change(e, func() {
		x.entries.Set(entry)
		x.bytes += entry.cost()
		x.last = id
		x.trim(opt.Trim)
	})
	s.signal(e.key()) // blocked XREADs
	return id, true, nil
}

// copyFields copies fields into one allocation: the caller's buffers are
// reused for the next command.
func copyFields(fields [][]byte) [][]byte {
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(fields))
	for i, f := range fields {
		buf = append(buf, f...)
		out[i] = buf[len(buf)-len(f) : len(buf) : len(buf)]
	}
	return out
}

// streamFor is objectFor for reads of a stream, counted as a hit or a
// miss. s.mu must be held.
func (s *Store) streamFor(key []byte) (*entry, *stream, error) {
	e, x, err := objectFor[*stream](s, key)
	switch {
	case err != nil:
	case e == nil:
		s.stats.Misses++
	default:
		s.stats.Hits++
	}
	return e, x, err
}

// XLen returns the number of entries of key's stream, and whether key
// exists (an emptied stream does).
func (s *Store) XLen(key []byte) (n int, exists bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := s.streamFor(key)
	if e == nil {
		return 0, false, err
	}
	return x.len(), true, nil
}

// XRange returns the entries of key's stream with IDs from start to end,
// both included, at most count of them (count <= 0: all), the newest first
// if rev.
func (s *Store) XRange(key []byte, start, end StreamID, count int, rev bool) ([]StreamEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := s.streamFor(key)
	if e == nil || end.Less(start) {
		return nil, err
	}
	var out []StreamEntry
	take := func(en StreamEntry) bool {
		if rev && en.ID.Less(start) || !rev && end.Less(en.ID) {
			return false
		}
		out = append(out, en)
		return count <= 0 || len(out) < count
	}
	if rev {
		x.entries.Descend(StreamEntry{ID: end}, take)
	} else {
		x.entries.Ascend(StreamEntry{ID: start}, take)
	}
	return out, nil
}

// XDel deletes the entries of key's stream with these IDs and returns how
// many there were.
func (s *Store) XDel(key []byte, ids []StreamID) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := objectFor[*stream](s, key)
	if e == nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if _, ok := x.entries.Get(StreamEntry{ID: id}); ok {
			s.change(e, func() { // a no-op is not a change
				for _, id := range ids {
					if x.delete(id) {
						n++
					}
				}
			})
			break
		}
	}
	return n, nil
}

// XTrim trims key's stream as t says and returns how many entries went.
func (s *Store) XTrim(key []byte, t XTrimOptions) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, x, err := objectFor[*stream](s, key)
	if e == nil {
		return 0, err
	}
	if !x.trimsFirst(t) { // a no-op is not a change
		return 0, nil
	}
	n := 0
	s.change(e, func() { n = x.trim(t) })
	return n, nil
}

// XReadResult is one stream's part of XREAD's reply: its key and the
// entries after the ID asked for.
type XReadResult struct {
	Key     string
	Entries []StreamEntry
}

// streamWait is what a blocked XREAD waits for: an entry above after[i]
// in keys[i]'s stream, and at most count (0: all) of them.
type streamWait struct {
	after map[string]StreamID
	count int
}

// after returns up to count (0: all) entries of x above id. s.mu must be held.
func (x *stream) after(id StreamID, count int) []StreamEntry {
	start, ok := id.Next()
	if !ok {
		return nil
	}
	var out []StreamEntry
	x.entries.Ascend(StreamEntry{ID: start}, func(e StreamEntry) bool {
		out = append(out, e)
		return count <= 0 || len(out) < count
	})
	return out
}

// XLastIDs returns the last ID of each key's stream (0-0 for no key), for
// XREAD's "$", or ErrWrongType if one is not a stream.
func (s *Store) XLastIDs(keys [][]byte) ([]StreamID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]StreamID, len(keys))
	for i, k := range keys {
		e, x, err := objectFor[*stream](s, k)
		if err != nil {
			return nil, err
		}
		if e != nil {
			ids[i] = x.last
		}
	}
	return ids, nil
}

// XRead returns, for each of keys' streams that has entries above its ID
// in ids, up to count (0: all) of them. If none has and block, it returns a
// Waiter instead, which receives (in Popped's Entries) the first entries
// added above the ID to any of them, and then calls notify as BPop's does.
func (s *Store) XRead(keys [][]byte, ids []StreamID, count int, block bool, notify func()) ([]XReadResult, *Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []XReadResult
	for i, k := range keys {
		e, x, err := s.streamFor(k)
		if err != nil {
			return nil, nil, err
		}
		if e != nil {
			if got := x.after(ids[i], count); len(got) > 0 {
				out = append(out, XReadResult{Key: e.key(), Entries: got})
			}
		}
	}
	if len(out) > 0 || !block {
		return out, nil, nil
	}
	c := make(chan Popped, 1)
	w := &Waiter{C: c, c: c, stream: &streamWait{after: make(map[string]StreamID), count: count}, notify: notify}
	for i, k := range keys {
		if _, dup := w.stream.after[string(k)]; dup {
			continue
		}
		w.stream.after[string(k)] = ids[i]
		w.keys = append(w.keys, string(k))
		s.waiters[string(k)] = append(s.waiters[string(k)], w)
	}
	return nil, w, nil
}

// serveStreamWaiter hands w the entries of e's stream above the ID it
// waits for, if there are any, and reports whether it did. s.mu must be
// held.
func (s *Store) serveStreamWaiter(e *entry, w *Waiter) bool {
	x, ok := s.objects[e].(*stream)
	if !ok {
		return false
	}
	got := x.after(w.stream.after[e.key()], w.stream.count)
	if len(got) == 0 {
		return false
	}
	s.dropWaiter(w)
	w.c <- Popped{Key: e.key(), Entries: got}
	if w.notify != nil {
		w.notify()
	}
	return true
}
