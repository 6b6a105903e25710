package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/client"
	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// A client that sends its commands and then shuts down its sending side
// still receives every reply before the server hangs up.
func TestHalfClosedClientGetsAllReplies(t *testing.T) {
	for _, cfg := range transports(t) {
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

// Values larger than the read buffer, up to far larger than a socket
// buffer, arrive intact, alone and several to a pipeline: the loop reads
// them in many pieces and writes their replies in many.
func TestBigArgumentsArriveIntact(t *testing.T) {
	for _, cfg := range transports(t) {
		s := start(t, cfg)
		c, err := client.Dial(clientAddr(s), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		values := map[string][]byte{}
		for i, n := range []int{4<<10 - 1, 4 << 10, 4<<10 + 1, 10 << 10, 8 << 20} {
			v := make([]byte, n)
			for j := range v {
				v[j] = byte(i + j*7)
			}
			values[fmt.Sprint("k", n)] = v
		}
		var mset [][]byte
		for k, v := range values {
			if err := c.Set([]byte(k), v); err != nil {
				t.Fatalf("%s: Set %s: %v", cfg.Network, k, err)
			}
			got, ok, err := c.Get([]byte(k))
			if err != nil || !ok || !bytes.Equal(got, v) {
				t.Fatalf("%s: Get %s: %d bytes, %v, %v; want the %d bytes set", cfg.Network, k, len(got), ok, err, len(v))
			}
			mset = append(mset, []byte("p"+k), v)
		}
		if _, err := c.Pipeline([][][]byte{append([][]byte{[]byte("MSET")}, mset...), {[]byte("DEL"), []byte("k10240")}}); err != nil {
			t.Fatalf("%s: pipeline: %v", cfg.Network, err)
		}
		for k, v := range values {
			got, _, err := c.Get([]byte("p" + k))
			if err != nil || !bytes.Equal(got, v) {
				t.Fatalf("%s: MSET value p%s: %d bytes, %v", cfg.Network, k, len(got), err)
			}
		}
	}
}

// testInfoNamesTheLoop checks that INFO's multiplexing_api names want.
func testInfoNamesTheLoop(t *testing.T, want string) {
	s := start(t, tcpConfig())
	info := do(t, dial(t, s), "INFO", "server")
	if !strings.Contains(info, "\r\nmultiplexing_api:"+want+"\r\n") {
		t.Fatalf("INFO server does not say multiplexing_api:%s:\n%s", want, info)
	}
}

// A command pipelined behind a reply too big for the socket is answered
// once the big reply has gone out, however the writes of that reply happen
// to interleave with the client's reads. It once stayed unread in the
// buffer when the loop's last write drained the reply and the loop went
// back to waiting for input; the client then waited forever.
func TestCommandBehindABigReplyIsAnswered(t *testing.T) {
	// It reproduced within a few thousand rounds over a unix socket, and
	// hardly ever over TCP loopback, which buffers more.
	for _, tc := range []struct {
		cfg     Config
		seconds time.Duration
	}{{unixConfig(t), 8}, {tcpConfig(), 2}} {
		cfg := tc.cfg
		s := start(t, cfg)
		value := bytes.Repeat([]byte("v"), 300<<10) // more than a unix socket holds
		s.store.Set([]byte("big"), value, store.SetOptions{})
		want := append(resp.AppendBulk(nil, value), "+PONG\r\n"...)
		nc, _ := rawConn(t, s)
		// Reads as large as the socket buffer let the client empty the
		// socket between two of the loop's writes, the interleaving that
		// once lost the PING.
		r := bufio.NewReaderSize(nc, 1<<20)
		got := make([]byte, len(want))
		rounds := 0
		for deadline := time.Now().Add(tc.seconds * time.Second); time.Now().Before(deadline); rounds++ {
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := nc.Write([]byte("GET big\r\nPING\r\n")); err != nil {
				t.Fatalf("%s: round %d: %v", cfg.Network, rounds, err)
			}
			if n, err := io.ReadFull(r, got); err != nil {
				t.Fatalf("%s: round %d: %d of %d reply bytes, then %v: the PING behind GET was not answered",
					cfg.Network, rounds, n, len(want), err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: round %d: the replies differ from GET's and PING's", cfg.Network, rounds)
			}
		}
		t.Logf("%s: %d rounds", cfg.Network, rounds)
	}
}

// Close serves a client to the end for as long as it keeps reading its
// replies, even slowly and for longer than drainStall, and cuts off a
// client that reads nothing for drainStall.
func TestCloseWaitsForReadersAndCutsOffStalledClients(t *testing.T) {
	s := start(t, unixConfig(t))
	value := bytes.Repeat([]byte("r"), 1<<20)
	s.store.Set([]byte("big"), value, store.SetOptions{})
	const gets = 8 // 8 MiB of replies, far more than a unix socket holds
	request := bytes.Repeat([]byte("GET big\r\n"), gets)
	reader, _ := rawConn(t, s)
	stalled, _ := rawConn(t, s)
	reader.Write(request)
	stalled.Write(request)
	time.Sleep(100 * time.Millisecond) // both sockets fill up

	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() { s.Close(); closed <- time.Since(start) }()

	// One read every 100 ms: longer in all than drainStall.
	reader.SetDeadline(time.Now().Add(30 * time.Second))
	var got []byte
	buf := make([]byte, 256<<10)
	for {
		n, err := reader.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if want := bytes.Repeat(resp.AppendBulk(nil, value), gets); !bytes.Equal(got, want) {
		t.Fatalf("the reading client got %d of %d bytes", len(got), len(want))
	}
	if took := time.Since(start); took < drainStall {
		t.Fatalf("the slow reader was done in %v: the test does not read slowly enough", took)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	stalled.SetDeadline(time.Now().Add(5 * time.Second))
	all, _ := io.ReadAll(stalled)
	if len(all) >= gets*len(value) {
		t.Fatalf("the client that read nothing got all %d bytes: it was not cut off", len(all))
	}
}

// A command whose reply would leave more than MaxOutput bytes waiting for
// the client closes the connection instead, and nobody else notices.
func TestMaxOutputClosesAClientWithTooBigAReply(t *testing.T) {
	cfg := tcpConfig()
	cfg.MaxOutput = 1 << 20
	s := start(t, cfg)
	value := bytes.Repeat([]byte("o"), 600<<10)
	s.store.Set([]byte("big"), value, store.SetOptions{})
	nc, r := rawConn(t, s)
	nc.Write([]byte("GET big\r\n"))
	got := make([]byte, len(resp.AppendBulk(nil, value)))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("a reply under max_output: %v", err)
	}
	nc.Write([]byte("MGET big big\r\nPING\r\n"))
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Fatalf("a 1.2 MB reply over a 1 MiB max_output: %d bytes, %v; want a hang-up and nothing", len(rest), err)
	}
	other := dial(t, s)
	if got := do(t, other, "PING"); got != "+PONG\r\n" {
		t.Fatalf("another client: %q", got)
	}

	// MGET can repeat one big value: its reply stops growing at the
	// bound, rather than being built whole (600 MB here) and then dropped.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	mget := [][]byte{[]byte("MGET")}
	for i := 0; i < 1000; i++ {
		mget = append(mget, []byte("big"))
	}
	nc, r = rawConn(t, s)
	nc.Write(resp.AppendCommand(nil, mget...))
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Fatalf("MGET of 1000 big values: %d bytes, %v; want a hang-up and nothing", len(rest), err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("MGET over max_output allocated %d MiB", grew>>20)
	}
}
