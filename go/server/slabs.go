//go:build linux && !tmc_portable

package server

import (
	"fmt"
	"math/bits"
	"sync"
	"syscall"
	"time"
)

// Slabs: shared values in memory the server reuses (docs: "Big values").
//
// A memfd a client fills and seals (TMC.SETFD) is new memory every time,
// and on Linux new memory is the cost of a big set: the kernel takes about
// four times as long to hand out and then free a page of it as to copy a
// page (16 MiB measured: a copy 1.9 ms, writing a new memfd 9.0 ms, closing
// it 2.2 ms). So a client may instead copy the value into a staging memfd
// of its own that it keeps (TMC.STAGE, once per connection), and the
// server copies it from there into a slab (TMC.SETSTAGED): a memfd of the
// server's whose pages, once the value has gone and nobody maps it, hold
// the next value of its size. Two copies into memory already in place.
//
// Only the server writes a slab: it keeps the one writable mapping, made
// before the seals, which refuse every later write and writable mapping
// (F_SEAL_FUTURE_WRITE) and any change of size that could make a mapping
// fault (SHRINK, GROW). A reader that maps a slab holds a lease on it
// (TMC.GETFD takes one, TMC.RELEASE gives it back): a slab is rewritten
// only when it is out of the store and leased by nobody, so what a reader
// holds never changes. A lease that is not given back (its client closed,
// or died, or gave it back saying RETIRE because it forked while holding
// the mapping: the child has it too) retires the slab: it is never
// rewritten, and is freed with the last mapping, as a sealed memfd is.
//
// Free slabs are kept up to slabKeep bytes (a quarter of max_memory, when
// that is less), and each for slabDecay after it was freed, as a malloc
// keeps freed pages a while: a steady stream of values of one size reuses
// the same pages, and an idle server gives them back.
const (
	slabKeep  = 1 << 30
	slabDecay = 10 * time.Second

	sealFutureWrite = 0x10
	sealSeal        = 0x1
	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
)

// slab is a server-written memfd holding one value.
type slab struct {
	pool   *slabPool
	ro     int    // a read-only descriptor: what readers get
	mem    []byte // the server's writable mapping, of the class's size
	ino    uint64 // the file's inode number: how TMC.RELEASE names it
	n      int    // the value's size, while it is stored
	stored bool   // the store holds it, or the command that stores it
	leases int    // readers' mappings not yet given back
	retire bool   // never rewritten: freed when the store and the leases are done
	freed  time.Time
}

func (s *slab) Len() int      { return s.n }
func (s *slab) Bytes() []byte { return append([]byte(nil), s.mem[:s.n]...) }

// Close is the store's: it dropped s (a set of the key, a delete,
// eviction, expiry), or never took it (NX, XX).
func (s *slab) Close() { s.pool.unstored(s) }

// slabPool is the server's slabs: those in use, found by inode number, and
// the free ones, by size class. Its methods take mu: the store closes a
// value with its own lock held, and readers give theirs back on any loop.
type slabPool struct {
	mu        sync.Mutex
	byIno     map[uint64]*slab
	free      map[int][]*slab // oldest first
	freeBytes int
	keep      int         // the free bytes kept at most; 0: slabKeep
	timer     *time.Timer // trims free slabs older than slabDecay
	closed    bool
}

// setKeep bounds the free slabs kept by max_memory (0: no bound).
func (p *slabPool) setKeep(maxMemory int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keep = 0
	if maxMemory > 0 && maxMemory/4 < slabKeep {
		p.keep = max(1, int(maxMemory/4))
	}
}

// slabClass is the size of the slab that holds n bytes: n rounded up to a
// quarter of its power of two (so at most a quarter more) and to pages.
func slabClass(n int) int {
	const page = 4096
	if n <= 16*page {
		return (n + page - 1) &^ (page - 1)
	}
	step := 1 << (bits.Len(uint(n-1)) - 3)
	return (n + step - 1) &^ (step - 1)
}

// get returns a slab for n bytes, free or new, held for the store: its
// Close gives it back.
func (p *slabPool) get(n int) (*slab, error) {
	size := slabClass(n)
	p.mu.Lock()
	if free := p.free[size]; len(free) > 0 {
		s := free[len(free)-1] // the newest: its pages were touched last
		p.free[size] = free[:len(free)-1]
		p.freeBytes -= size
		s.n, s.stored = n, true
		p.mu.Unlock()
		return s, nil
	}
	p.mu.Unlock()
	s, err := newSlab(size)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byIno == nil {
		p.byIno, p.free = make(map[uint64]*slab), make(map[int][]*slab)
	}
	p.byIno[s.ino] = s
	s.pool, s.n, s.stored = p, n, true
	return s, nil
}

// newSlab makes a sealed memfd of size bytes that only its mapping writes.
func newSlab(size int) (*slab, error) {
	fd, err := memfdCreate("tiny-mp-cache slab", mfdCloexec|mfdAllowSealing)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd) // the mapping and ro keep the file
	s := &slab{ro: -1}
	if err = syscall.Ftruncate(fd, int64(size)); err == nil {
		s.mem, err = syscall.Mmap(fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	}
	if err == nil {
		_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), fAddSeals, sealShrink|sealGrow|sealFutureWrite|sealSeal)
		if errno != 0 {
			err = fmt.Errorf("this kernel cannot seal a memfd against future writes (Linux 5.1 can): %w", errno)
		}
	}
	if err == nil {
		s.ro, err = syscall.Open(fmt.Sprintf("/proc/self/fd/%d", fd), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	var st syscall.Stat_t
	if err == nil {
		err = syscall.Fstat(s.ro, &st)
	}
	if err != nil {
		s.free()
		return nil, fmt.Errorf("cannot make a slab: %w", err)
	}
	s.ino = st.Ino
	return s, nil
}

// free unmaps and closes s: its pages go with the last reader's mapping.
func (s *slab) free() {
	if s.mem != nil {
		syscall.Munmap(s.mem)
		s.mem = nil
	}
	if s.ro >= 0 {
		syscall.Close(s.ro)
		s.ro = -1
	}
}

func (p *slabPool) unstored(s *slab) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.stored = false
	p.done(s)
}

// lease records a reader's mapping of s, which c's reply passes.
func (p *slabPool) lease(c *conn, s *slab) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.leases++
	if c.leases == nil {
		c.leases = make(map[*slab]int)
	}
	c.leases[s]++
}

// release gives back c's lease of the slab numbered ino, if it holds one;
// with retire, the slab is never rewritten.
func (p *slabPool) release(c *conn, ino uint64, retire bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.byIno[ino]
	if s == nil || c.leases[s] == 0 {
		return // not this client's to give back
	}
	if c.leases[s]--; c.leases[s] == 0 {
		delete(c.leases, s)
	}
	s.leases--
	s.retire = s.retire || retire
	p.done(s)
}

// releaseAll retires every slab c still leases: c has gone, and whatever
// maps them (c's process, or a child it forked) may still be reading.
func (p *slabPool) releaseAll(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s, n := range c.leases {
		s.leases -= n
		s.retire = true
		p.done(s)
	}
	c.leases = nil
}

// done frees s or keeps it for reuse once neither the store nor a reader
// holds it. p.mu is held.
func (p *slabPool) done(s *slab) {
	if s.stored || s.leases > 0 {
		return
	}
	size := len(s.mem)
	keep := p.keep
	if keep == 0 {
		keep = slabKeep
	}
	if s.retire || p.closed || p.freeBytes+size > keep {
		delete(p.byIno, s.ino)
		go s.free() // freeing pages takes as long as making them: not on a loop
		return
	}
	s.freed = time.Now()
	p.free[size] = append(p.free[size], s)
	p.freeBytes += size
	if p.timer == nil {
		p.timer = time.AfterFunc(slabDecay, p.trim)
	}
}

// trim frees the slabs that have been free for slabDecay, and comes back
// while any are left.
func (p *slabPool) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	old := time.Now().Add(-slabDecay)
	for size, free := range p.free {
		n := 0
		for n < len(free) && !free[n].freed.After(old) {
			delete(p.byIno, free[n].ino)
			free[n].free()
			p.freeBytes -= size
			n++
		}
		if p.free[size] = free[n:]; len(p.free[size]) == 0 {
			delete(p.free, size)
		}
	}
	if p.freeBytes > 0 && !p.closed {
		p.timer = time.AfterFunc(slabDecay, p.trim)
	}
}

// close frees the free slabs and stops keeping any (the server stops);
// those still stored or leased go as they are done.
func (p *slabPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	for _, free := range p.free {
		for _, s := range free {
			delete(p.byIno, s.ino)
			s.free()
		}
	}
	p.free, p.freeBytes = map[int][]*slab{}, 0
}

// stats reports the slabs in use (stored or leased) and free, in bytes.
func (p *slabPool) stats() (used, free int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.byIno {
		used += len(s.mem)
	}
	return used - p.freeBytes, p.freeBytes
}
