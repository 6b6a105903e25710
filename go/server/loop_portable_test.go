//go:build !linux || tmc_portable

package server

import (
	"testing"
	"time"
)

// INFO names the loop that serves, so a test run can tell which it checks.
func TestInfoNamesTheLoop(t *testing.T) {
	testInfoNamesTheLoop(t, "goroutines")
}

// A wake-up left over from an earlier wait (its value arrived as the wait
// timed out, and went with the timeout's reply) does not end the next
// wait early with a null: the next wait gets its own value.
func TestStaleWakeupDoesNotEndTheNextWait(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	nc.Write([]byte("PING\r\n"))
	if l := readLine(t, r); l != "+PONG" {
		t.Fatalf("PING: %q", l)
	}
	s.mu.Lock()
	l := s.loops[0] // the first client's
	s.mu.Unlock()
	l.mu.Lock()
	for c := range l.conns {
		c.wake() // the one client, as the store would for an earlier wait
	}
	l.mu.Unlock()

	nc.Write([]byte("BLPOP q 5\r\n"))
	time.Sleep(50 * time.Millisecond)
	do(t, dial(t, s), "RPUSH", "q", "x")
	for _, want := range []string{"*2", "$1", "q", "$1", "x"} {
		if got := readLine(t, r); got != want {
			t.Fatalf("BLPOP reply line %q; want %q", got, want)
		}
	}
}

// The portable loop cannot pass a descriptor with a reply: CLIENT NEARCACHE
// says so, and the client's near cache stays off with that reason.
func TestPortableLoopRefusesTheNearCache(t *testing.T) {
	s := start(t, unixConfig(t))
	nc, r := rawConn(t, s)
	nc.Write([]byte("CLIENT NEARCACHE\r\n"))
	if l := readLine(t, r); l != "-ERR no near cache: the portable loop (macOS, Windows, -tags tmc_portable) cannot pass its table's descriptor" {
		t.Fatalf("CLIENT NEARCACHE: %q", l)
	}
}
