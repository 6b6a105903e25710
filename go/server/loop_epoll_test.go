//go:build linux && !tmc_portable

package server

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// The loop's whole GET path, from reading the request to writing the
// reply, allocates nothing once its buffers have grown.
func TestGetPathAllocatesNothing(t *testing.T) {
	s := start(t, tcpConfig())
	if _, err := s.store.Set([]byte("k"), []byte("value"), store.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[1])
	syscall.SetNonblock(fds[0], true)
	l, err := newLoop(s)
	if err != nil {
		t.Fatal(err)
	}
	defer l.release()
	c := &conn{connIO: connIO{fd: fds[0], polled: pollIn}, s: s, authed: true}
	c.rd = resp.NewReader(fdReader(c.fd), s.cfg.limits())
	l.conns[c.fd] = c
	defer syscall.Close(fds[0])

	req := []byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
	want := "$5\r\nvalue\r\n"
	reply := make([]byte, 64)
	var got string
	allocs := testing.AllocsPerRun(1000, func() {
		syscall.Write(fds[1], req)
		l.ready(c, syscall.EPOLLIN)
		n, _ := syscall.Read(fds[1], reply)
		if n > 0 && got == "" {
			got = string(reply[:n])
		}
	})
	if got != want {
		t.Fatalf("reply %q; want %q", got, want)
	}
	if allocs != 0 {
		t.Fatalf("%.1f allocations per GET; want 0", allocs)
	}
}

// INFO names the loop that serves, so a test run can tell which it checks.
func TestInfoNamesTheLoop(t *testing.T) {
	testInfoNamesTheLoop(t, "epoll")
}

// A client whose pop blocks while replies to its earlier commands still
// wait for room in the socket receives those replies as it reads: the loop
// polls it for room to write as well as for a hang-up.
func TestBlockedPopStillWritesEarlierReplies(t *testing.T) {
	s := start(t, tcpConfig())
	pc := dial(t, s) // once a client is served, the loop runs
	do(t, pc, "PING")
	s.mu.Lock()
	l := s.loops[0]
	s.mu.Unlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := fds[1]
	defer syscall.Close(peer)
	syscall.SetNonblock(fds[0], true)
	// A small socket buffer: the earlier replies do not fit at once.
	syscall.SetsockoptInt(fds[0], syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
	syscall.Write(peer, []byte("BLPOP nothing 0\r\n"))
	earlier := bytes.Repeat([]byte("+earlier reply\r\n"), 2000) // 32 KB, under maxPending
	if !s.register() {
		t.Fatal("cannot register a client")
	}
	c := &conn{connIO: connIO{fd: fds[0]}, s: s, loop: l, authed: true}
	c.rd = resp.NewReader(fdReader(c.fd), s.cfg.limits())
	l.load.Add(1)
	l.post(func() {
		c.out = append(c.out, earlier...)
		l.add(c)
	})
	got := make([]byte, 0, len(earlier))
	buf := make([]byte, 64<<10)
	tv := syscall.NsecToTimeval(int64(2 * time.Second))
	syscall.SetsockoptTimeval(peer, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	for len(got) < len(earlier) {
		n, err := syscall.Read(peer, buf)
		if err != nil || n <= 0 {
			t.Fatalf("%d of %d bytes of the earlier replies, then %v", len(got), len(earlier), err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, earlier) {
		t.Fatal("the earlier replies arrived changed")
	}
	if got := do(t, pc, "RPUSH", "nothing", "v"); got != ":1\r\n" && got != ":0\r\n" {
		t.Fatalf("RPUSH: %q", got)
	}
	want := "*2\r\n$7\r\nnothing\r\n$1\r\nv\r\n"
	n, err := syscall.Read(peer, buf)
	if err != nil || string(buf[:max(n, 0)]) != want {
		t.Fatalf("the pop's reply: %q, %v; want %q", buf[:max(n, 0)], err, want)
	}
}

// A big value in a reply is sent from the store's memory, not copied into
// the output buffer, and the replies around it still go out whole and in
// order, however the socket takes them.
func TestBigValuesInRepliesAreNotCopied(t *testing.T) {
	s := start(t, tcpConfig())
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	syscall.SetNonblock(fds[0], true)
	syscall.SetsockoptInt(fds[0], syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
	c := &conn{connIO: connIO{fd: fds[0]}, s: s, authed: true}
	big1 := bytes.Repeat([]byte("a"), bigReply)
	big2 := bytes.Repeat([]byte("b"), 300<<10)
	var out, want []byte
	for _, v := range [][]byte{[]byte("small"), big1, big2, []byte("tail"), big1} {
		out = c.appendBulk(out, v)
		want = resp.AppendBulk(want, v)
	}
	c.out = out
	if len(c.spliced) != 3 || &c.spliced[0].v[0] != &big1[0] || &c.spliced[1].v[0] != &big2[0] {
		t.Fatalf("%d values spliced; want the 3 big ones, by reference", len(c.spliced))
	}
	if c.unsent() != len(want) {
		t.Fatalf("unsent = %d; want %d", c.unsent(), len(want))
	}
	got := make([]byte, 0, len(want))
	buf := make([]byte, 3000)
	for deadline := time.Now().Add(5 * time.Second); c.unsent() > 0 || len(got) < len(want); {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d reply bytes after 5 s", len(got), len(want))
		}
		if !c.write() {
			t.Fatal("write failed")
		}
		if n, err := syscall.Read(fds[1], buf); err == nil {
			got = append(got, buf[:n]...)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the replies arrived changed")
	}
	if len(c.spliced) != 0 || c.extra != 0 || len(c.out) != 0 {
		t.Fatal("the written replies were kept")
	}
}
