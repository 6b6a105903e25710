//go:build linux && !tmc_portable

package server

import (
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// handover asks s for its near cache's table with CLIENT NEARCACHE, as the
// Python client does, and maps the descriptor that comes with the reply.
func handover(t *testing.T, s *Server) []uint64 {
	t.Helper()
	nc, err := net.Dial("unix", s.cfg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	uc := nc.(*net.UnixConn)
	uc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := uc.Write([]byte("*2\r\n$6\r\nCLIENT\r\n$9\r\nNEARCACHE\r\n")); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 64), make([]byte, syscall.CmsgSpace(4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != "+OK\r\n" {
		t.Fatalf("CLIENT NEARCACHE: %q", got)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("no descriptor with the reply: %v %v", msgs, err)
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("no descriptor with the reply: %v %v", fds, err)
	}
	defer syscall.Close(fds[0])
	if _, err := syscall.Mmap(fds[0], 0, nearSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED); err == nil {
		t.Fatal("the descriptor handed out lets a client write the table")
	}
	mem, err := syscall.Mmap(fds[0], 0, nearSize, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), nearSize/8)
	if words[nearWordMagic] != nearMagic || words[nearWordLayout] != nearLayout || words[nearWordSlots] != nearSlots {
		t.Fatalf("header %x", words[:nearHeader])
	}
	return words
}

// TestNearBumpsOnEveryChange: every kind of change to a key, made through
// the server, moves the version of its slot before the reply; reads do not;
// a flush moves the epoch.
func TestNearBumpsOnEveryChange(t *testing.T) {
	cfg := unixConfig(t)
	cfg.MaxMemory = 4000
	s := start(t, cfg)
	n := s.near
	if n == nil {
		t.Fatalf("no near cache: %s", s.nearOff)
	}
	handover(t, s)
	w := dial(t, s)
	do(t, w, "SET", "k", "1")
	do(t, w, "RPUSH", "l", "a")
	for _, tc := range []struct {
		name string
		key  string // the key whose slot must move; "" for none
		args []string
	}{
		{"set", "k", []string{"SET", "k", "2"}},
		{"get", "", []string{"GET", "k"}},
		{"pexpiretime", "", []string{"PEXPIRETIME", "k"}},
		{"incr", "k", []string{"INCR", "k"}},
		{"pexpire", "k", []string{"PEXPIRE", "k", "100000"}},
		{"persist", "k", []string{"PERSIST", "k"}},
		{"getdel", "k", []string{"GETDEL", "k"}},
		{"mset", "m", []string{"MSET", "m", "1", "k", "2"}},
		{"del", "k", []string{"DEL", "k"}},
		{"rpush", "l", []string{"RPUSH", "l", "b", "c"}},
		{"lpop", "l", []string{"LPOP", "l"}},
		{"lrange", "", []string{"LRANGE", "l", "0", "-1"}},
		{"setnx", "n", []string{"SETNX", "n", "1"}},
		{"getset", "n", []string{"GETSET", "n", "2"}},
		{"incrbyfloat", "n", []string{"INCRBYFLOAT", "n", "0.5"}},
		{"getex", "n", []string{"GETEX", "n", "PX", "100000"}},
		{"getex persist", "n", []string{"GETEX", "n", "PERSIST"}},
		{"psetex", "n", []string{"PSETEX", "n", "100000", "v"}},
		{"pexpireat", "n", []string{"PEXPIREAT", "n", "4102444800000"}},
		{"unlink", "n", []string{"UNLINK", "n"}},
		{"lmove", "l2", []string{"LMOVE", "l", "l2", "LEFT", "RIGHT"}},
		{"exec", "x", []string{"EVAL_TX"}},
	} {
		if tc.args[0] == "EVAL_TX" { // a write inside MULTI/EXEC
			do(t, w, "MULTI")
			do(t, w, "SET", "x", "1")
			tc.args = []string{"EXEC"}
		}
		before, mBefore := n.version("k"), n.version(tc.key)
		do(t, w, tc.args...)
		switch {
		case tc.key == "" && n.version("k") != before:
			t.Errorf("%s: a read moved the version", tc.name)
		case tc.key != "" && n.version(tc.key) == mBefore:
			t.Errorf("%s: %s's version did not move", tc.name, tc.key)
		}
	}

	epoch := n.epoch()
	do(t, w, "FLUSHALL")
	if n.epoch() == epoch {
		t.Error("flush did not move the epoch")
	}

	// Expiry in the background, with no command about the key.
	do(t, w, "SET", "e", "v", "PX", "20")
	v := n.version("e")
	for deadline := time.Now().Add(5 * time.Second); n.version("e") == v; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a key that expired in the background kept its version")
		}
	}

	// Eviction under max_memory.
	do(t, w, "SET", "victim", "v")
	v = n.version("victim")
	for i := 0; i < 100 && do(t, w, "EXISTS", "victim") == ":1\r\n"; i++ {
		do(t, w, "SET", fmt.Sprint("fill", i), strings.Repeat("x", 100))
	}
	if do(t, w, "EXISTS", "victim") != ":0\r\n" || n.version("victim") == v {
		t.Error("an evicted key kept its version")
	}
}

// TestNearIdleUntilShared: writes leave the table alone until a client
// has been given it, then every write bumps it.
func TestNearIdleUntilShared(t *testing.T) {
	s := start(t, unixConfig(t))
	n := s.near
	if n == nil {
		t.Fatalf("no near cache: %s", s.nearOff)
	}
	w := dial(t, s)
	do(t, w, "SET", "k", "1")
	if v := n.version("k"); v != 0 {
		t.Fatalf("a write before any CLIENT NEARCACHE bumped the table to %d", v)
	}
	handover(t, s)
	do(t, w, "SET", "k", "2")
	if n.version("k") == 0 {
		t.Fatal("a write after CLIENT NEARCACHE did not bump the table")
	}
}

// TestNearHandover: a client gets the table read-only over the socket, and
// sees the server's bumps in it; the server's Close marks it dead.
func TestNearHandover(t *testing.T) {
	s := start(t, unixConfig(t))
	words := handover(t, s)
	w := dial(t, s)
	before := s.near.version("k")
	do(t, w, "SET", "k", "v")
	if got := words[nearHeader+crcSlot("k")]; got != before+1 {
		t.Fatalf("client's view of k's slot: %d, want %d", got, before+1)
	}
	if words[nearWordEpoch]&nearDead != 0 {
		t.Fatal("a live server's table is marked dead")
	}
	name := s.near.name
	s.Close()
	if words[nearWordEpoch]&nearDead == 0 {
		t.Fatal("a stopped server's table is not marked dead")
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("a stopped server's table is still in /dev/shm: %v", err)
	}
}

func crcSlot(key string) uint32 { return crc32.ChecksumIEEE([]byte(key)) % nearSlots }

// version returns the version of key's slot.
func (n *nearTable) version(key string) uint64 {
	return atomic.LoadUint64(&n.words[nearHeader+crcSlot(key)])
}

// epoch returns the epoch word.
func (n *nearTable) epoch() uint64 { return atomic.LoadUint64(&n.words[nearWordEpoch]) }

// TestNearTableIsAllocated: every page of the table has memory from the
// start, so a bump can never fault on a /dev/shm that filled up later.
func TestNearTableIsAllocated(t *testing.T) {
	n, err := openNear(filepath.Join(t.TempDir(), "c.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	var st syscall.Stat_t
	if err := syscall.Stat(n.name, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != nearSize || st.Blocks*512 < nearSize {
		t.Fatalf("table of %d bytes has %d bytes of memory; want all %d", st.Size, st.Blocks*512, nearSize)
	}
}

// TestNearFencesAKilledServersTable: a server that starts at the socket of
// one that died without closing (SIGKILL) marks the old table dead before
// it serves, so the old clients' cached values go; a server at another
// spelling of the same path finds the same table, and so does one whose
// directory was removed and made again.
func TestNearFencesAKilledServersTable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.sock")
	old, err := openNear(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.close()
	old.changed("k", false)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	a, _ := nearID(path)
	b, _ := nearID(filepath.Join(link, "c.sock"))
	c, _ := nearID(filepath.Join(dir, ".", "c.sock"))
	if id, _ := nearIDOf(filepath.Base(old.name)); a != b || a != c || a != id {
		t.Fatalf("three spellings of one path have more than one ID: %x, %x, %x (the table's: %x)", a, b, c, id)
	}
	s := start(t, Config{Network: "unix", Addr: path})
	if s.near == nil {
		t.Fatalf("no near cache after fencing: %s", s.nearOff)
	}
	if old.epoch()&nearDead == 0 {
		t.Fatal("the killed server's table is not marked dead")
	}
	if s.near.epoch()&nearDead != 0 || s.near.version("k") != 0 {
		t.Fatal("the new table starts dead or with old versions")
	}
	old.close() // the old server's late close leaves the new table alone
	if _, err := os.Stat(s.near.name); err != nil {
		t.Fatalf("the old server's close removed the new table: %v", err)
	}
}

func TestNearFencesAcrossARecreatedDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	os.Mkdir(dir, 0o700)
	path := filepath.Join(dir, "c.sock")
	old, err := openNear(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.close()
	os.RemoveAll(dir)
	os.Mkdir(dir, 0o700)
	n, err := openNear(path)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	if old.epoch()&nearDead == 0 {
		t.Fatal("the table of the server whose directory was made anew is not marked dead")
	}
}

// TestNearFencesOnlyItsSocketsTables: a hard link to one server's table,
// given a name with another socket's ID (anyone can make one, where
// fs.protected_hardlinks is 0), does not get the first table fenced by a
// server that starts at the other socket: the ID in the header must agree.
func TestNearFencesOnlyItsSocketsTables(t *testing.T) {
	a, err := openNear(filepath.Join(t.TempDir(), "a.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	other := filepath.Join(t.TempDir(), "b.sock")
	id, _ := nearID(other)
	link := fmt.Sprintf("%s/%s%016x%016x-%016x", nearDir, nearPrefix, id[0], id[1], 0)
	if err := os.Link(a.name, link); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(link)
	b, err := openNear(other)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	if a.epoch()&nearDead != 0 {
		t.Fatal("a server fenced another socket's table through a link named after its own")
	}
}

// TestCleanNearLeavesLiveTables: CleanNear fences and removes a table
// whose server is gone (its lock released, as at SIGKILL), not a live one.
func TestCleanNearLeavesLiveTables(t *testing.T) {
	live, err := openNear(filepath.Join(t.TempDir(), "live.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.close()
	dead, err := openNear(filepath.Join(t.TempDir(), "dead.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.close()
	syscall.Flock(int(dead.file.Fd()), syscall.LOCK_UN) // what the kernel does when its server dies
	removed, err := CleanNear()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, dead.name) || slices.Contains(removed, live.name) {
		t.Fatalf("CleanNear removed %v; want %s and not %s", removed, dead.name, live.name)
	}
	if dead.epoch()&nearDead == 0 || live.epoch()&nearDead != 0 {
		t.Fatal("CleanNear removed a table without marking it dead, or marked a live one")
	}
	if _, err := os.Stat(live.name); err != nil {
		t.Fatal(err)
	}
}

// TestNearOffOverTCP: CLIENT NEARCACHE says why there is no near cache.
func TestNearOffOverTCP(t *testing.T) {
	s := start(t, tcpConfig())
	w := dial(t, s)
	if got := do(t, w, "CLIENT", "NEARCACHE"); !strings.HasPrefix(got, "-ERR no near cache: the server listens on TCP") {
		t.Fatalf("CLIENT NEARCACHE over TCP: %q", got)
	}
}

func TestExpireTime(t *testing.T) {
	s := start(t, tcpConfig())
	w := dial(t, s)
	do(t, w, "SET", "k", "v")
	num := func(n int64) string { return ":" + strconv.FormatInt(n, 10) + "\r\n" }
	if got := do(t, w, "PEXPIRETIME", "k"); got != num(-1) {
		t.Errorf("PEXPIRETIME of a key without TTL: %s", got)
	}
	if got := do(t, w, "EXPIRETIME", "missing"); got != num(-2) {
		t.Errorf("EXPIRETIME of a missing key: %s", got)
	}
	at := time.Now().Add(100 * time.Second).UnixMilli()
	do(t, w, "PEXPIREAT", "k", strconv.FormatInt(at, 10))
	if got := do(t, w, "PEXPIRETIME", "k"); got != num(at) {
		t.Errorf("PEXPIRETIME: %s, want %d", got, at)
	}
	if got := do(t, w, "EXPIRETIME", "k"); got != num((at+500)/1000) {
		t.Errorf("EXPIRETIME: %s, want %d", got, (at+500)/1000)
	}
}
