//go:build linux && !tmc_portable

package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// Values in shared memory (docs: "Big values"). Over a unix socket a client
// writes a big value into a memfd of its own, seals it (no write, no
// shrink, no grow: immutable, and a mapping of it can never fault) and
// hands the descriptor over with TMC.SETFD; the store keeps a read-only
// descriptor of it (store.Shared). TMC.GETFD hands a duplicate of that
// descriptor to a reader with the reply, as CLIENT NEARCACHE hands the
// near cache's table (see write, which sends both): the reader maps it,
// and nobody copies the bytes through the socket. The file lives while
// anyone holds it: the store until the key changes or goes, a reader
// while it keeps its mapping. Being unnamed, it goes with the last of
// them, however they end.
//
//	TMC.SETFD key size [EX s | PX ms | EXAT t | PXAT t | KEEPTTL] [NX | XX]
//	    the descriptor comes with the command; +OK, or nil when NX or XX
//	    kept it from being stored
//	TMC.GETFD key, TMC.GETDELFD key
//	    nil: no key; a bulk string: a value kept in the store's memory,
//	    as GET replies; an integer: the size of a shared value, whose
//	    descriptor comes with the reply. GETDELFD takes the key, as GETDEL.

//	TMC.GET key, TMC.GETDEL key
//	    GET and GETDEL, but a shared value's reply is the error
//	    "TMCSHARED <size>" (and TMC.GETDEL leaves the key), so that a
//	    client whose reads cannot take descriptors (TinyCache's Go client,
//	    on its fast path) asks again with TMC.GETFD on a connection that
//	    can, and small values keep that fast path. GET itself, for
//	    redis-py over this socket say, replies with the bytes, copied
//	    from the memfd.

// Seals, as <linux/fcntl.h> has them (package syscall does not).
const (
	fAddSeals      = 1033
	fGetSeals      = 1034
	sealShrink     = 0x2
	sealGrow       = 0x4
	sealWrite      = 0x8
	sealsImmutable = sealShrink | sealGrow | sealWrite
)

// maxInFDs bounds the descriptors a connection may have sent and not yet
// used; more are closed at once. maxOutFDs bounds those waiting to go with
// its replies (a pipeline of TMC.GETFD): past it, TMC.GETFD of a shared
// value is refused until the client has read its replies.
const (
	maxInFDs  = 16
	maxOutFDs = 64
)

// memfdValue is a sealed memfd held by the store: a read-only descriptor.
type memfdValue struct {
	fd   int
	size int
}

func (m *memfdValue) Len() int { return m.size }

func (m *memfdValue) Bytes() []byte {
	b := make([]byte, m.size)
	for off := 0; off < len(b); {
		n, err := syscall.Pread(m.fd, b[off:], int64(off))
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n == 0 { // cannot happen to a sealed file of this size
			return b[:off]
		}
		off += n
	}
	return b
}

func (m *memfdValue) Close() { syscall.Close(m.fd) }

// checkSealed makes a store value of fd, a descriptor a client sent, which
// it closes: the value is a read-only descriptor of the same file. It must
// be a memfd of exactly size bytes, sealed against writes, shrinking and
// growth; anything else (a pipe, a directory, a file that can change) is
// refused with an error that says why.
func checkSealed(fd, size int) (*memfdValue, error) {
	defer syscall.Close(fd)
	seals, have, err := memfdOf(fd, "TMC.SETFD")
	if err != nil {
		return nil, err
	}
	if seals&sealsImmutable != sealsImmutable {
		return nil, fmt.Errorf("ERR TMC.SETFD: the memfd is not sealed against write, shrink and grow (seals %#x)", seals)
	}
	if have != int64(size) {
		return nil, fmt.Errorf("ERR TMC.SETFD: the memfd holds %d bytes, not the %d the command says", have, size)
	}
	// A read-only descriptor of the same file: what readers get.
	ro, err := syscall.Open(fmt.Sprintf("/proc/self/fd/%d", fd), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ERR TMC.SETFD: cannot keep the memfd: %v", err)
	}
	return &memfdValue{fd: ro, size: size}, nil
}

// memfdOf checks that fd, a descriptor a client sent with the command
// name, is a memfd, and returns its seals and then its size: read after
// the seals, so that what they forbid (shrinking, growth) cannot have
// changed it since.
func memfdOf(fd int, name string) (uintptr, int64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, 0, fmt.Errorf("ERR %s: bad descriptor: %v", name, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return 0, 0, fmt.Errorf("ERR %s: the descriptor is not a memfd (not even a regular file)", name)
	}
	seals, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), fGetSeals, 0)
	if errno != 0 {
		return 0, 0, fmt.Errorf("ERR %s: the descriptor is not a memfd (it takes no seals)", name)
	}
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, 0, fmt.Errorf("ERR %s: bad descriptor: %v", name, err)
	}
	return seals, st.Size, nil
}

// canShare says whether c can pass descriptors, or why not.
func (c *conn) canShare() string {
	if !c.unix {
		return "ERR shared values need a unix socket"
	}
	return ""
}

// cmdSetFD is TMC.SETFD key size [options].
func cmdSetFD(c *conn, args [][]byte, out []byte) []byte {
	if why := c.canShare(); why != "" {
		return resp.AppendError(out, why)
	}
	fd, ok := c.takeFD()
	if !ok {
		return resp.AppendError(out, "ERR TMC.SETFD: no descriptor came with the command")
	}
	size, opt, msg := c.setOptions(args, "TMC.SETFD")
	if msg != "" {
		syscall.Close(fd)
		return resp.AppendError(out, msg)
	}
	v, err := checkSealed(fd, size)
	if err != nil {
		return appendErr(out, err)
	}
	return c.setShared(args[1], v, opt, out)
}

// cmdStage is TMC.STAGE size: the descriptor that comes with it is the
// client's staging memfd, where its TMC.SETSTAGED values will be. It must
// be sealed against shrinking, so that the server's mapping of it can
// never fault, and hold at least size bytes; the client may keep writing
// it. A connection has one: a new one replaces it.
func cmdStage(c *conn, args [][]byte, out []byte) []byte {
	if why := c.canShare(); why != "" {
		return resp.AppendError(out, why)
	}
	fd, ok := c.takeFD()
	if !ok {
		return resp.AppendError(out, "ERR TMC.STAGE: no descriptor came with the command")
	}
	defer syscall.Close(fd) // the mapping keeps the file
	size, ok := store.ParseInt(args[1])
	if !ok || size <= 0 || size > int64(c.s.cfg.limits().MaxBulk) {
		return resp.AppendError(out, "ERR TMC.STAGE: the size must be a positive integer no larger than max_bulk")
	}
	seals, have, err := memfdOf(fd, "TMC.STAGE")
	switch {
	case err != nil:
		return appendErr(out, err)
	case seals&sealShrink == 0:
		return resp.AppendError(out, fmt.Sprintf("ERR TMC.STAGE: the memfd is not sealed against shrinking (seals %#x)", seals))
	case have < size:
		return resp.AppendError(out, fmt.Sprintf("ERR TMC.STAGE: the memfd holds %d bytes, fewer than the %d the command says", have, size))
	}
	mem, err := syscall.Mmap(fd, 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return resp.AppendError(out, fmt.Sprintf("ERR TMC.STAGE: cannot map the memfd: %v", err))
	}
	c.unstage()
	c.staging = mem
	return resp.AppendSimple(out, "OK")
}

// cmdSetStaged is TMC.SETSTAGED key size [options]: SET of the first size
// bytes of the connection's staging memfd, copied into a slab.
func cmdSetStaged(c *conn, args [][]byte, out []byte) []byte {
	if why := c.canShare(); why != "" {
		return resp.AppendError(out, why)
	}
	size, opt, msg := c.setOptions(args, "TMC.SETSTAGED")
	switch {
	case msg != "":
		return resp.AppendError(out, msg)
	case size > len(c.staging):
		return resp.AppendError(out, fmt.Sprintf("ERR TMC.SETSTAGED: the staging memfd (TMC.STAGE) holds %d bytes, not %d", len(c.staging), size))
	}
	v, err := c.s.slabs.get(size)
	if err != nil {
		return resp.AppendError(out, "ERR TMC.SETSTAGED: "+err.Error())
	}
	copy(v.mem, c.staging[:size])
	return c.setShared(args[1], v, opt, out)
}

// cmdRelease is TMC.RELEASE [RETIRE] ino [ino ...]: the client has
// unmapped these slabs (named by their files' inode numbers) that
// TMC.GETFD passed it; RETIRE, because a process it forked may still map
// them. A number it holds no lease of is passed over. The reply is +OK
// (not a count: an integer reply on this connection is a shared value's).
func cmdRelease(c *conn, args [][]byte, out []byte) []byte {
	retire := len(args) > 1 && is(args[1], "RETIRE")
	inos := args[1:]
	if retire {
		inos = args[2:]
	}
	for _, a := range inos {
		ino, ok := store.ParseInt(a)
		if !ok || ino < 0 {
			return resp.AppendError(out, "ERR TMC.RELEASE: an inode number must be a non-negative integer")
		}
		c.s.slabs.release(c, uint64(ino), retire)
	}
	return resp.AppendSimple(out, "OK")
}

// setOptions parses TMC.SETFD's and TMC.SETSTAGED's key size [options].
func (c *conn) setOptions(args [][]byte, name string) (int, store.SetOptions, string) {
	var opt store.SetOptions
	size, ok := store.ParseInt(args[2])
	if !ok || size <= 0 || size > int64(c.s.cfg.limits().MaxBulk) {
		return 0, opt, "ERR " + name + ": the size must be a positive integer no larger than max_bulk"
	}
	expiry := false
	for i := 3; i < len(args); i++ {
		switch a := args[i]; {
		case is(a, "NX") && !opt.XX:
			opt.NX = true
		case is(a, "XX") && !opt.NX:
			opt.XX = true
		case is(a, "KEEPTTL") && !expiry:
			opt.KeepTTL, expiry = true, true
		case isExpiry(a) && !expiry && i+1 < len(args):
			at, msg := c.expiryOption(a, args[i+1], strings.ToLower(name))
			if msg != "" {
				return 0, opt, msg
			}
			opt.At, expiry = at, true
			i++
		default:
			return 0, opt, errSyntax
		}
	}
	return int(size), opt, ""
}

// setShared stores v under key: +OK, or nil when NX or XX kept it out.
func (c *conn) setShared(key []byte, v store.Shared, opt store.SetOptions, out []byte) []byte {
	stored, err := c.s.store.SetShared(key, v, opt)
	if !stored {
		v.Close()
	}
	switch {
	case err != nil:
		return appendErr(out, err)
	case !stored:
		return c.appendNull(out)
	}
	return resp.AppendSimple(out, "OK")
}

// cmdGetFD is TMC.GETFD key and TMC.GETDELFD key.
func cmdGetFD(c *conn, args [][]byte, out []byte) []byte {
	if why := c.canShare(); why != "" {
		return resp.AppendError(out, why)
	}
	del := len(args[0]) > len("tmc.getfd")
	fd, size := -1, 0
	v, ok, err := c.s.store.ReadShared(args[1], del, func(sh store.Shared) error {
		if len(c.outFDs) >= maxOutFDs { // too many waiting: this one inline
			size = -1
			return nil
		}
		ro, leased := -1, (*slab)(nil)
		switch m := sh.(type) {
		case *memfdValue:
			ro = m.fd
		case *slab:
			ro, leased = m.ro, m
		}
		d, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(ro), syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			return fmt.Errorf("ERR cannot pass the value's descriptor: %v", errno)
		}
		if leased != nil {
			c.s.slabs.lease(c, leased) // given back by TMC.RELEASE, or when c goes
		}
		fd, size = int(d), sh.Len()
		return nil
	})
	switch {
	case err != nil:
		return appendErr(out, err)
	case fd >= 0:
		c.outFDs = append(c.outFDs, fd)
		return resp.AppendInt(out, int64(size))
	case size < 0:
		return resp.AppendError(out, "ERR too many descriptors waiting to be read on this connection: read the replies first")
	}
	return c.appendValue(out, v, ok)
}

// cmdGetOrSize is TMC.GET key and TMC.GETDEL key: GET and GETDEL, but
// a shared value's reply is its size, as an error, and GETDEL leaves it.
func cmdGetOrSize(c *conn, args [][]byte, out []byte) []byte {
	return readOrSize(c, args[1], len(args[0]) > len("tmc.get"), out)
}

// errIsShared stops ReadShared at a shared value: nothing is taken.
var errIsShared = errors.New("shared")

// readOrSize replies with key's value, taking it with del, or, for a
// shared value, which it leaves, with "TMCSHARED <size>".
func readOrSize(c *conn, key []byte, del bool, out []byte) []byte {
	size := 0
	v, ok, err := c.s.store.ReadShared(key, del, func(sh store.Shared) error {
		size = sh.Len()
		return errIsShared
	})
	switch {
	case err == errIsShared:
		return resp.AppendError(out, "TMCSHARED "+strconv.Itoa(size))
	case err != nil:
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

// takeFD takes the oldest descriptor c sent that no command has used.
func (c *conn) takeFD() (int, bool) {
	if len(c.inFDs) == 0 {
		return -1, false
	}
	fd := c.inFDs[0]
	c.inFDs = c.inFDs[1:]
	return fd, true
}

// rights are the descriptors that go with c's next write: the near
// cache's table (CLIENT NEARCACHE) and the values of TMC.GETFD, or nil.
func (c *conn) rights() []int {
	if !c.passNear && len(c.outFDs) == 0 {
		return nil
	}
	fds := c.outFDs
	if c.passNear {
		fds = append([]int{c.s.near.rofd}, fds...)
	}
	return fds
}

// passed is told that the rights went: c's duplicates are closed (the
// reader has its own now).
func (c *conn) passed() {
	c.passNear = false
	for _, fd := range c.outFDs {
		syscall.Close(fd)
	}
	c.outFDs = c.outFDs[:0]
}

// closeFDs closes every descriptor c holds for a client that has gone,
// unmaps its staging memfd and retires the slabs it leases.
func (c *conn) closeFDs() {
	c.passed()
	for _, fd := range c.inFDs {
		syscall.Close(fd)
	}
	c.inFDs = nil
	c.unstage()
	c.s.slabs.releaseAll(c)
}

// unstage unmaps c's staging memfd, if it has one.
func (c *conn) unstage() {
	if c.staging != nil {
		syscall.Munmap(c.staging)
		c.staging = nil
	}
}

// socketReader is how the loop reads c's socket: on a unix socket with
// recvmsg, keeping the descriptors that come with the bytes (for
// TMC.SETFD); elsewhere with read.
func (c *conn) socketReader(nc net.Conn) io.Reader {
	if _, ok := nc.LocalAddr().(*net.UnixAddr); ok {
		c.unix = true
		return rightsReader{c}
	}
	return fdReader(c.fd)
}

// rightsReader reads c's unix socket and keeps the descriptors that come.
type rightsReader struct{ c *conn }

func (r rightsReader) Read(p []byte) (int, error) {
	c := r.c
	var oob [64]byte // room for maxInFDs descriptors; more are closed by the kernel (MSG_CTRUNC)
	iov := syscall.Iovec{Base: &p[0]}
	iov.SetLen(len(p))
	msg := syscall.Msghdr{Iov: &iov, Iovlen: 1, Control: &oob[0]}
	msg.SetControllen(len(oob))
	n, _, errno := syscall.RawSyscall(syscall.SYS_RECVMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&msg)), syscall.MSG_CMSG_CLOEXEC)
	if msg.Controllen > 0 {
		c.keepRights(oob[:msg.Controllen])
	}
	switch {
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

// keepRights queues the descriptors in control messages oob, up to
// maxInFDs waiting; the rest are closed.
func (c *conn) keepRights(oob []byte) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(c.inFDs) < maxInFDs {
				c.inFDs = append(c.inFDs, fd)
			} else {
				syscall.Close(fd)
			}
		}
	}
}
