package server

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// A client that sends its commands and then shuts down its sending side
// still receives every reply before the server hangs up.
func TestHalfClosedClientGetsAllReplies(t *testing.T) {
	for _, cfg := range []Config{tcpConfig(), unixConfig(t)} {
		s := start(t, cfg)
		nc, r := rawConn(t, s)
		nc.Write([]byte("SET k v\r\nGET k\r\nBLPOP nothing 0.05\r\nPING\r\n"))
		nc.(interface{ CloseWrite() error }).CloseWrite()
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s: %v", cfg.Network, err)
		}
		if want := "+OK\r\n$1\r\nv\r\n*-1\r\n+PONG\r\n"; string(got) != want {
			t.Fatalf("%s: got %q, want %q", cfg.Network, got, want)
		}
	}
}

// A client that does not read its large replies holds up only itself: the
// loop stops reading from it while its replies wait, serves the others, and
// the slow client receives every byte once it reads.
func TestSlowReaderHoldsUpOnlyItself(t *testing.T) {
	s := start(t, tcpConfig())
	big := bytes.Repeat([]byte("x"), 4<<20)
	setter, sr := rawConn(t, s)
	setter.Write(resp.AppendCommand(nil, []byte("SET"), []byte("big"), big))
	if l := readLine(t, sr); l != "+OK" {
		t.Fatalf("SET: %q", l)
	}

	slow, slowR := rawConn(t, s)
	const gets = 16 // 64 MiB of replies, far more than the socket buffers
	go slow.Write(bytes.Repeat([]byte("GET big\r\n"), gets))
	time.Sleep(100 * time.Millisecond)

	other, otherR := rawConn(t, s)
	for i := 0; i < 100; i++ {
		other.Write([]byte("PING\r\n"))
		if l := readLine(t, otherR); l != "+PONG" {
			t.Fatalf("other client got %q", l)
		}
	}

	want := resp.AppendBulk(nil, big)
	got := make([]byte, len(want))
	for i := 0; i < gets; i++ {
		if _, err := io.ReadFull(slowR, got); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("reply %d differs from the value", i)
		}
	}
}

// Close answers a client blocked in BLPOP with a null reply, then hangs up.
func TestCloseEndsBlockedPop(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	nc.Write([]byte("BLPOP q 0\r\n"))
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "*-1\r\n" {
		t.Fatalf("blocked client got %q, want a null array", got)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Fatal("still accepting after Close")
	}
}
