//go:build linux && !tmc_portable

package server

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// tracker connects a RESP3 client with tracking on.
func tracker(t *testing.T, s *Server) *respConn {
	t.Helper()
	c := dialRaw(t, s, true)
	c.expect() // nothing yet
	if got := c.do("CLIENT", "TRACKING", "ON"); got != "OK" {
		t.Fatalf("CLIENT TRACKING ON: %q", got)
	}
	return c
}

func TestTrackingOwnWriteIsInvalidatedAfterItsReply(t *testing.T) {
	s := start(t, tcpConfig())
	a := tracker(t, s)
	a.expect()
	if got := a.do("GET", "k"); got != "nil" {
		t.Fatalf("GET: %q", got)
	}
	// The exact bytes: the reply to SET, then the push, then the reply to
	// the command after SET, pipelined with it.
	a.nc.Write([]byte("SET k v\r\nPING\r\n"))
	want := "+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n+PONG\r\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(a.r, got); err != nil || string(got) != want {
		t.Fatalf("got %q (%v), want %q", got, err, want)
	}
	// Told once: until it reads k again, its writes tell it nothing.
	a.expect()
	a.do("SET", "k", "w")
	a.quiet()
	a.do("GET", "k")
	a.do("SET", "k", "x")
	a.expect(">[invalidate [k]]")
	a.quiet()
}

func TestTrackingOtherClientsWrites(t *testing.T) {
	s := start(t, tcpConfig())
	w := dial(t, s)
	do(t, w, "SET", "str", "1")
	do(t, w, "RPUSH", "list", "a", "b")
	for _, tc := range []struct {
		read  []string
		write []string
	}{
		{[]string{"GET", "str"}, []string{"SET", "str", "2"}},
		{[]string{"GET", "str"}, []string{"INCR", "str"}},
		{[]string{"GET", "str"}, []string{"EXPIRE", "str", "100"}},
		{[]string{"TTL", "str"}, []string{"PERSIST", "str"}},
		{[]string{"EXISTS", "str"}, []string{"MSET", "x", "1", "str", "3"}},
		{[]string{"MGET", "x", "str"}, []string{"GETDEL", "str"}},
		{[]string{"TYPE", "str"}, []string{"SET", "str", "4"}},
		{[]string{"GET", "str"}, []string{"DEL", "str"}},
		{[]string{"LRANGE", "list", "0", "-1"}, []string{"RPUSH", "list", "c"}},
		{[]string{"LLEN", "list"}, []string{"LPOP", "list"}},
		{[]string{"LLEN", "list"}, []string{"LMOVE", "list", "list", "LEFT", "RIGHT"}},
	} {
		t.Run(strings.Join(tc.write, " "), func(t *testing.T) {
			a := tracker(t, s)
			a.do(tc.read...)
			do(t, w, tc.write...)
			want := ">[invalidate [" + tc.read[1] + "]]"
			if tc.read[0] == "MGET" && tc.write[0] == "GETDEL" {
				want = ">[invalidate [str]]" // x did not change
			}
			a.expect(want)
			a.quiet()
		})
	}
}

func TestTrackingTransactionWritesFollowExecReply(t *testing.T) {
	s := start(t, tcpConfig())
	a := tracker(t, s)
	a.do("GET", "k")
	a.expect() // nothing yet
	a.do("MULTI")
	a.do("SET", "k", "1")
	a.do("INCR", "k")
	a.expect()
	a.send("EXEC")
	a.send("PING")
	a.expect("[OK 2]", ">[invalidate [k]]", "PONG") // once, after EXEC's reply
}

func TestTrackingFlushSendsNullToEveryTracker(t *testing.T) {
	s := start(t, tcpConfig())
	a, b := tracker(t, s), tracker(t, s)
	w := dial(t, s)
	a.do("GET", "k")
	do(t, w, "FLUSHALL")
	a.expect(">[invalidate nil]")
	b.expect(">[invalidate nil]") // it read nothing, but drops everything
	a.quiet()
	b.quiet()
	// The table starts over: k is no longer tracked.
	do(t, w, "SET", "k", "v")
	a.quiet()
}

func TestTrackingExpiryInTheBackground(t *testing.T) {
	s := start(t, tcpConfig())
	w := dial(t, s)
	do(t, w, "SET", "k", "v", "PX", "30")
	a := tracker(t, s)
	a.do("GET", "k")
	// No command of a's runs: the expiry goroutine's removal is sent by
	// the loop on its own (read's deadline is the bounded wait).
	a.expect(">[invalidate [k]]")
}

func TestTrackingEvictionUnderMaxMemory(t *testing.T) {
	cfg := tcpConfig()
	cfg.MaxMemory = 2000
	s := start(t, cfg)
	w := dial(t, s)
	do(t, w, "SET", "k", "v")
	a := tracker(t, s)
	a.do("EXISTS", "k")        // tracked, and not marked visited for SIEVE, as GET would
	for i := 0; i < 100; i++ { // far past the bound: k is evicted
		do(t, w, "SET", fmt.Sprint("fill", i), strings.Repeat("x", 100))
	}
	a.expect(">[invalidate [k]]")
}

func TestTrackingTableIsBounded(t *testing.T) {
	cfg := tcpConfig()
	cfg.TrackingMaxKeys = 2
	s := start(t, cfg)
	a := tracker(t, s)
	a.do("GET", "k1")
	a.do("GET", "k2")
	a.quiet()
	a.send("GET", "k3")
	a.expect("nil") // the reply, then the key evicted from the table
	got := a.read()
	if got != ">[invalidate [k1]]" && got != ">[invalidate [k2]]" {
		t.Fatalf("got %q, want an invalidation of k1 or k2", got)
	}
	s.tracking.mu.Lock()
	n := len(s.tracking.keys)
	s.tracking.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d keys tracked, want 2", n)
	}
	info := a.do("INFO")
	for _, want := range []string{"tracking_clients:1\r\n", "tracking_total_keys:2\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q", want)
		}
	}
}

// onLoop runs f on one of s's loops, as a command would (under the
// running lock), and waits for it.
func onLoop(t *testing.T, s *Server, f func()) {
	t.Helper()
	done := make(chan struct{})
	s.loops[0].post(func() {
		s.running.Lock()
		defer s.running.Unlock()
		f()
		close(done)
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not run posted work")
	}
}

func TestTrackingEndsWithTheConnectionAndOff(t *testing.T) {
	s := start(t, tcpConfig())
	w := dial(t, s)
	a := tracker(t, s)
	a.do("GET", "k")
	a.nc.Close()
	b := tracker(t, s)
	b.do("GET", "k")
	if got := b.do("CLIENT", "TRACKING", "OFF"); got != "OK" {
		t.Fatalf("OFF: %q", got)
	}
	c := tracker(t, s)
	c.do("GET", "k")
	c.do("RESET")
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		onLoop(t, s, func() { n = len(s.tracking.clients) })
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d clients still tracking", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	do(t, w, "SET", "k", "v") // their ids are dropped now, nobody told
	b.quiet()
	s.tracking.mu.Lock()
	n := len(s.tracking.keys)
	s.tracking.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d keys still tracked", n)
	}
}

func TestTrackingReplies(t *testing.T) {
	s := start(t, tcpConfig())
	r2 := dialRaw(t, s, false)
	if got := r2.do("CLIENT", "TRACKING", "ON"); !strings.HasPrefix(got, "ERR CLIENT TRACKING needs RESP3") {
		t.Fatalf("RESP2 ON: %q", got)
	}
	if got := r2.do("CLIENT", "TRACKING", "OFF"); got != "OK" {
		t.Fatalf("RESP2 OFF: %q", got)
	}
	a := dialRaw(t, s, true)
	for _, tc := range []struct{ args, want string }{
		{"CLIENT GETREDIR", "-1"},
		{"CLIENT TRACKINGINFO", "[flags [off] redirect -1 prefixes []]"},
		{"CLIENT TRACKING ON REDIRECT 5", errTrackingOption[:len(errTrackingOption)]},
		{"CLIENT TRACKING ON BCAST", errTrackingOption},
		{"CLIENT TRACKING ON BOGUS", "ERR syntax error"},
		{"CLIENT TRACKING MAYBE", "ERR syntax error"},
		{"CLIENT TRACKING", "ERR wrong number of arguments for 'client|tracking' command"},
		{"CLIENT TRACKING ON", "OK"},
		{"CLIENT GETREDIR", "0"},
		{"CLIENT TRACKINGINFO", "[flags [on] redirect 0 prefixes []]"},
	} {
		if got := a.do(strings.Fields(tc.args)...); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.args, got, tc.want)
		}
	}
}
