//go:build unix

package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The near cache's table of versions: a file in /dev/shm that a unix-socket
// server creates and maps, and hands to clients, read-only, with CLIENT
// NEARCACHE (the descriptor travels with the reply, SCM_RIGHTS). It is
// nearHeader words of header and nearSlots words of versions, native
// endian. A key's slot is crc32 (IEEE, as zlib.crc32 computes it) of the
// key, modulo nearSlots; the server adds 1 to it on every change to a key
// that hashes there, with the store locked, so before the change is
// acknowledged. A flush adds 1 to the epoch word instead.
//
// A client keeps a value it read with the slot's version and the epoch it
// saw before it sent the read, and serves the value again only while both
// are unchanged: any change to the key since then, any flush, and the
// server's end (the epoch's nearDead bit) make it read again. See
// tiny_mp_cache/_near.py, which mirrors these constants
// (tests/test_near_cache.py holds them equal).
const (
	nearMagic  = 0x315241454e434d54 // "TMCNEAR1", little endian
	nearLayout = 1
	nearSlots  = 1 << 16
	nearHeader = 8 // words before the first slot

	// Header words.
	nearWordMagic  = 0
	nearWordLayout = 1
	nearWordEpoch  = 2 // flushes; nearDead once the server that made it is gone
	nearWordSlots  = 3

	nearDead = 1 << 63

	nearSize = (nearHeader + nearSlots) * 8
)

// nearTable is a server's table of versions, mapped read-write.
type nearTable struct {
	name  string   // its path in /dev/shm, removed at close
	mem   []byte   // the mapping
	words []uint64 // mem, as words
	rofd  int      // a read-only descriptor of it: what clients receive
}

// nearName is the path of the table of the server at socket. It derives
// from the socket's real path (its directory's symbolic links resolved), so
// that a server that starts at the same path finds its predecessor's table,
// however either spelled the path and even if the directory was made anew
// in between (as systemd's RuntimeDirectory is on every restart).
func nearName(socket string) (string, error) {
	abs, err := filepath.Abs(socket)
	if err != nil {
		return "", err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(filepath.Join(dir, filepath.Base(abs))))
	return "/dev/shm/tiny-mp-cache-near-" + hex.EncodeToString(sum[:12]), nil
}

// openNear fences the table a previous server at socket left behind (a
// server that was killed had no chance to), then creates and maps a new one.
// It fails, and the server runs without a near cache, where there is no
// /dev/shm or the old table cannot be fenced.
func openNear(socket string) (*nearTable, error) {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		return nil, errors.New("no shared memory (/dev/shm) on this machine")
	}
	name, err := nearName(socket)
	if err != nil {
		return nil, err
	}
	if err := fenceNear(name); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create the near cache's table: %w", err)
	}
	defer f.Close() // the mapping and rofd outlive it
	n := &nearTable{name: name, rofd: -1}
	// Written out, not made by Truncate: every page of a sparse file would
	// be allocated at its first bump, and on a full /dev/shm (a container's
	// 64 MiB, filled by a data loader's tensors) that store kills the server
	// with SIGBUS. A full /dev/shm now fails here, and the server runs
	// without a near cache.
	if _, err = f.Write(make([]byte, nearSize)); err == nil {
		n.mem, err = syscall.Mmap(int(f.Fd()), 0, nearSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	}
	if err == nil {
		n.rofd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		n.close()
		return nil, fmt.Errorf("cannot map the near cache's table: %w", err)
	}
	n.words = unsafe.Slice((*uint64)(unsafe.Pointer(&n.mem[0])), nearSize/8)
	n.words[nearWordLayout] = nearLayout
	n.words[nearWordSlots] = nearSlots
	atomic.StoreUint64(&n.words[nearWordMagic], nearMagic)
	return n, nil
}

// fenceNear marks the table at name dead, so that its clients stop serving
// what they read from its server, and removes it.
func fenceNear(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot fence the near cache's table %s left by an earlier server: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() >= nearHeader*8 {
		mem, err := syscall.Mmap(int(f.Fd()), 0, nearHeader*8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("cannot fence the near cache's table %s left by an earlier server: %w", name, err)
		}
		markDead((*uint64)(unsafe.Pointer(&mem[nearWordEpoch*8])))
		syscall.Munmap(mem)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("cannot replace the near cache's table %s left by an earlier server: %w", name, err)
	}
	return nil
}

// markDead sets the nearDead bit of an epoch word.
func markDead(epoch *uint64) {
	for {
		v := atomic.LoadUint64(epoch)
		if v&nearDead != 0 || atomic.CompareAndSwapUint64(epoch, v, v|nearDead) {
			return
		}
	}
}

// changed bumps key's slot, or the epoch on a flush: the store's notice of
// a changed key (Config.Changed), with the store locked.
func (n *nearTable) changed(key string, flushed bool) {
	if flushed {
		atomic.AddUint64(&n.words[nearWordEpoch], 1)
		return
	}
	sum := crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(key), len(key)))
	atomic.AddUint64(&n.words[nearHeader+sum%nearSlots], 1)
}

// close marks the table dead, so that no client serves what it read from
// this server any more, and removes its file, unless a newer server has
// already replaced it. The store must no longer call changed.
func (n *nearTable) close() {
	if n.words != nil {
		markDead(&n.words[nearWordEpoch])
	}
	if n.rofd >= 0 {
		var mine, there syscall.Stat_t
		if syscall.Fstat(n.rofd, &mine) == nil && syscall.Stat(n.name, &there) == nil &&
			mine.Dev == there.Dev && mine.Ino == there.Ino {
			os.Remove(n.name)
		}
		syscall.Close(n.rofd)
	} else {
		os.Remove(n.name) // made by openNear, which failed before rofd
	}
	if n.mem != nil {
		syscall.Munmap(n.mem)
	}
	n.mem, n.words, n.rofd = nil, nil, -1
}
