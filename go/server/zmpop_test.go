package server

import "testing"

// A blocked BZMPOP takes up to its count from the ZADD that wakes it, the
// lowest scores first for MIN.
func TestBZMPopWaitsAndTakesItsCount(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	c := dial(t, s)
	nc.Write([]byte("BZMPOP 0 2 a z MIN COUNT 2\r\n"))
	waitForInfo(t, c, "blocked_clients", "1")
	do(t, c, "ZADD", "z", "3", "c", "1", "a", "2", "b")
	readReply(t, r, []string{"*2", "$1", "z", "*2", "*2", "$1", "a", "$1", "1", "*2", "$1", "b", "$1", "2"})
	if got := do(t, c, "ZRANGE", "z", "0", "-1"); got != "*1\r\n$1\r\nc\r\n" {
		t.Fatalf("ZRANGE z after BZMPOP = %q", got)
	}
}

// A BZMPOP that times out gets a null array, and one a list push cannot
// wake: it waits for a sorted set only.
func TestBZMPopTimesOutAndIgnoresLists(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	c := dial(t, s)
	nc.Write([]byte("BZMPOP 0.05 1 k MAX\r\n"))
	waitForInfo(t, c, "blocked_clients", "1")
	do(t, c, "RPUSH", "k", "x")
	readReply(t, r, []string{"*-1"})
	if got := do(t, c, "LLEN", "k"); got != ":1\r\n" {
		t.Fatalf("LLEN k after BZMPOP = %q", got)
	}
}
