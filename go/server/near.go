//go:build unix

package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// The tables live in nearDir, as nearPrefix + ID + "-" + 16 random hex
// digits. ID (32 hex digits, also in the header words nearWordID) names
// the socket: a server starting there fences every table of that ID left
// by this user (see fenceNear), without trusting any name: /dev/shm is
// writable by every local user, so a name anyone can work out from the
// socket path may hold anyone's link, file or directory, and a table's own
// name is random, made with O_EXCL, so nothing planted there can stop it.
const (
	nearDir    = "/dev/shm"
	nearPrefix = "tiny-mp-cache-near-"
	nearWordID = 4 // two words: the socket's ID, as nearID gives it
)

// nearTable is a server's table of versions, mapped read-write.
type nearTable struct {
	name  string   // its path in /dev/shm, removed at close
	file  *os.File // read-write, locked (flock) while the server lives: see CleanNear
	mem   []byte   // the mapping
	words []uint64 // mem, as words
	rofd  int      // a read-only descriptor of it: what clients receive
}

// nearID names the tables of the server at socket: the first 16 bytes of
// sha256 of the socket's real path (its directory's symbolic links
// resolved), so that a server that starts at the same path finds its
// predecessor's table, however either spelled the path and even if the
// directory was made anew in between (as systemd's RuntimeDirectory is on
// every restart).
func nearID(socket string) ([2]uint64, error) {
	abs, err := filepath.Abs(socket)
	if err != nil {
		return [2]uint64{}, err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return [2]uint64{}, err
	}
	sum := sha256.Sum256([]byte(filepath.Join(dir, filepath.Base(abs))))
	return [2]uint64{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])}, nil
}

// nearIDOf is the ID in a table's file name, and whether the name is one.
func nearIDOf(name string) ([2]uint64, bool) {
	rest, ok := strings.CutPrefix(name, nearPrefix)
	if !ok || len(rest) != 32+1+16 || rest[32] != '-' {
		return [2]uint64{}, false
	}
	b, err := hex.DecodeString(rest[:32])
	if _, err2 := hex.DecodeString(rest[33:]); err != nil || err2 != nil {
		return [2]uint64{}, false
	}
	return [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, true
}

// openNear fences the tables that previous servers at socket left behind
// (a server that was killed had no chance to), then creates and maps a
// new one. It fails, and the server runs without a near cache, where
// there is no /dev/shm or an old table cannot be fenced.
func openNear(socket string) (*nearTable, error) {
	if fi, err := os.Stat(nearDir); err != nil || !fi.IsDir() {
		return nil, errors.New("no shared memory (/dev/shm) on this machine")
	}
	id, err := nearID(socket)
	if err != nil {
		return nil, err
	}
	if _, err := fenceNear(func(of [2]uint64, locked bool) bool { return of == id }); err != nil {
		return nil, fmt.Errorf("cannot fence the near cache's table left by an earlier server: %w", err)
	}
	n := &nearTable{rofd: -1}
	for tries := 0; n.file == nil; tries++ { // another name only if 64 random bits met a file there
		var r [8]byte
		rand.Read(r[:])
		n.name = fmt.Sprintf("%s/%s%016x%016x-%x", nearDir, nearPrefix, id[0], id[1], r)
		n.file, err = os.OpenFile(n.name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err != nil && (!errors.Is(err, fs.ErrExist) || tries == 3) {
			return nil, fmt.Errorf("cannot create the near cache's table: %w", err)
		}
	}
	fd := int(n.file.Fd())
	// Locked before it has a size, so that CleanNear, which skips a file
	// of the wrong size, never takes a live server's table for a dead one.
	err = syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
	// Written out, not made by Truncate: every page of a sparse file would
	// be allocated at its first bump, and on a full /dev/shm (a container's
	// 64 MiB, filled by a data loader's tensors) that store kills the server
	// with SIGBUS. A full /dev/shm now fails here, and the server runs
	// without a near cache.
	if err == nil {
		_, err = n.file.Write(make([]byte, nearSize))
	}
	if err == nil {
		n.mem, err = syscall.Mmap(fd, 0, nearSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	}
	if err == nil {
		n.rofd, err = openReadOnly(n.name, fd)
	}
	if err != nil {
		n.close()
		return nil, fmt.Errorf("cannot map the near cache's table: %w", err)
	}
	n.words = unsafe.Slice((*uint64)(unsafe.Pointer(&n.mem[0])), nearSize/8)
	n.words[nearWordLayout] = nearLayout
	n.words[nearWordSlots] = nearSlots
	n.words[nearWordID], n.words[nearWordID+1] = id[0], id[1]
	atomic.StoreUint64(&n.words[nearWordMagic], nearMagic)
	return n, nil
}

// openReadOnly opens name, the file open at fd, again, read-only: the
// descriptor clients get, which cannot give them write access.
func openReadOnly(name string, fd int) (int, error) {
	ro, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return -1, err
	}
	var a, b syscall.Stat_t
	if err = syscall.Fstat(fd, &a); err == nil {
		err = syscall.Fstat(ro, &b)
	}
	if err == nil && (a.Dev != b.Dev || a.Ino != b.Ino) {
		err = fmt.Errorf("%s was replaced", name)
	}
	if err != nil {
		syscall.Close(ro)
		return -1, err
	}
	return ro, nil
}

// CleanNear marks dead, and removes, the near cache's tables in /dev/shm
// that servers of this user left behind when they were killed: those that
// no live server holds locked. It returns their paths. Nothing but a
// regular file of this user's with a table's name, size and header is
// touched, and symbolic links are never followed.
func CleanNear() ([]string, error) {
	return fenceNear(func(id [2]uint64, locked bool) bool { return !locked })
}

// fenceNear marks dead, so that their clients stop serving what they read
// from their servers, and removes each of this user's tables in /dev/shm
// that fence picks, given the ID in its name and header and whether a live
// server holds it locked; it goes on past a table it cannot fence, and
// returns the paths of those it removed and the errors it met.
//
// What is in /dev/shm may be anyone's: only a regular file (never a link:
// O_NOFOLLOW) owned by this user, of a table's size, whose header has the
// magic and the ID of its name, is a table. Such a file can only have been
// made by this user (or be a hard link to one of its tables).
func fenceNear(fence func(id [2]uint64, locked bool) bool) ([]string, error) {
	entries, err := os.ReadDir(nearDir)
	if err != nil {
		return nil, err
	}
	var fenced []string
	var errs []error
	for _, e := range entries {
		id, ok := nearIDOf(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(nearDir, e.Name())
		done, err := fenceOne(path, id, fence)
		if done {
			fenced = append(fenced, path)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	return fenced, errors.Join(errs...)
}

// isTable says whether st is of a file that may be one of this user's tables.
func isTable(st *syscall.Stat_t) bool {
	return st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Uid == uint32(os.Geteuid()) && st.Size == nearSize
}

// fenceOne is fenceNear's work on the file at path, whose name holds id.
func fenceOne(path string, id [2]uint64, fence func(id [2]uint64, locked bool) bool) (bool, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil || !isTable(&st) {
		return false, nil // gone, or not this user's: not opened at all
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ELOOP) {
		return false, nil // gone, or replaced by a link since
	}
	if err != nil {
		return false, err
	}
	defer syscall.Close(fd)
	if err := syscall.Fstat(fd, &st); err != nil || !isTable(&st) {
		return false, err
	}
	locked := syscall.Flock(fd, syscall.LOCK_SH|syscall.LOCK_NB) != nil
	mem, err := syscall.Mmap(fd, 0, nearHeader*8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return false, err
	}
	defer syscall.Munmap(mem)
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), nearHeader)
	if atomic.LoadUint64(&words[nearWordMagic]) != nearMagic || [2]uint64{words[nearWordID], words[nearWordID+1]} != id ||
		!fence(id, locked) {
		return false, nil
	}
	markDead(&words[nearWordEpoch])
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return true, err
	}
	return true, nil
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
// this server any more, and removes its file (unless a newer server has
// fenced and removed it already: its name is this server's alone). The
// store must no longer call changed.
func (n *nearTable) close() {
	if n.words != nil {
		markDead(&n.words[nearWordEpoch])
	}
	if n.file != nil {
		os.Remove(n.name)
		n.file.Close() // and with it the lock
	}
	if n.rofd >= 0 {
		syscall.Close(n.rofd)
	}
	if n.mem != nil {
		syscall.Munmap(n.mem)
	}
	n.file, n.mem, n.words, n.rofd = nil, nil, nil, -1
}
