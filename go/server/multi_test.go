package server

import (
	"strings"
	"testing"
	"time"
)

// TestTransactionReplies is a table of commands and the exact replies
// redis-server 7.0 gives for them, run in order on one connection.
func TestTransactionReplies(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"EXEC"}, "-ERR EXEC without MULTI\r\n"},
		{[]string{"DISCARD"}, "-ERR DISCARD without MULTI\r\n"},
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"SET", "k", "v"}, "+QUEUED\r\n"},
		{[]string{"INCR", "k"}, "+QUEUED\r\n"},
		{[]string{"GET", "k"}, "+QUEUED\r\n"},
		{[]string{"EXEC"}, "*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nv\r\n"},
		// Refused while queuing: EXEC applies nothing.
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"MULTI"}, "-ERR MULTI calls can not be nested\r\n"},
		{[]string{"WATCH", "k"}, "-ERR WATCH inside MULTI is not allowed\r\n"},
		{[]string{"SET", "k", "changed"}, "+QUEUED\r\n"},
		{[]string{"NOSUCH"}, "-ERR unknown command 'NOSUCH'\r\n"},
		{[]string{"GET"}, "-ERR wrong number of arguments for 'get' command\r\n"},
		{[]string{"DEL", "k"}, "+QUEUED\r\n"},
		{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors.\r\n"},
		{[]string{"GET", "k"}, "$1\r\nv\r\n"},
		// Blocking commands do not block inside EXEC.
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"BLPOP", "empty", "0"}, "+QUEUED\r\n"},
		{[]string{"BLMOVE", "empty", "dst", "LEFT", "LEFT", "0"}, "+QUEUED\r\n"},
		{[]string{"EXEC"}, "*2\r\n*-1\r\n$-1\r\n"},
		// DISCARD and RESET drop the queue.
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"SET", "d", "v"}, "+QUEUED\r\n"},
		{[]string{"DISCARD"}, "+OK\r\n"},
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"SET", "d", "v"}, "+QUEUED\r\n"},
		{[]string{"RESET"}, "+RESET\r\n"},
		{[]string{"EXEC"}, "-ERR EXEC without MULTI\r\n"},
		{[]string{"EXISTS", "d"}, ":0\r\n"},
		// WATCH: a change by anyone, this connection included, fails EXEC.
		{[]string{"WATCH", "k"}, "+OK\r\n"},
		{[]string{"SET", "k", "mine"}, "+OK\r\n"},
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"SET", "k", "tx"}, "+QUEUED\r\n"},
		{[]string{"EXEC"}, "*-1\r\n"},
		{[]string{"GET", "k"}, "$4\r\nmine\r\n"},
		{[]string{"WATCH", "k"}, "+OK\r\n"},
		{[]string{"UNWATCH"}, "+OK\r\n"},
		{[]string{"SET", "k", "again"}, "+OK\r\n"},
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"SET", "k", "tx"}, "+QUEUED\r\n"},
		{[]string{"EXEC"}, "*1\r\n+OK\r\n"},
		// The new string and list commands.
		{[]string{"SETNX", "n", "1"}, ":1\r\n"},
		{[]string{"SETNX", "n", "2"}, ":0\r\n"},
		{[]string{"GETSET", "n", "3"}, "$1\r\n1\r\n"},
		{[]string{"SET", "n", "4", "GET"}, "$1\r\n3\r\n"},
		{[]string{"SETEX", "n", "0", "v"}, "-ERR invalid expire time in 'setex' command\r\n"},
		{[]string{"PSETEX", "n", "100000", "v"}, "+OK\r\n"},
		{[]string{"TTL", "n"}, ":100\r\n"}, // rounded: PTTL may have moved on
		{[]string{"GETEX", "n", "PERSIST"}, "$1\r\nv\r\n"},
		{[]string{"TTL", "n"}, ":-1\r\n"},
		{[]string{"EXPIRE", "n", "10", "GT"}, ":0\r\n"},
		{[]string{"EXPIRE", "n", "10", "NX", "GT"}, "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"},
		{[]string{"EXPIRE", "n", "10", "FOO"}, "-ERR Unsupported option FOO\r\n"},
		{[]string{"INCRBYFLOAT", "f", "0.1"}, "$3\r\n0.1\r\n"},
		{[]string{"INCRBYFLOAT", "f", "0.2"}, "$3\r\n0.3\r\n"},
		{[]string{"RPUSH", "q", "1", "2"}, ":2\r\n"},
		{[]string{"LMOVE", "q", "q", "LEFT", "RIGHT"}, "$1\r\n1\r\n"},
		{[]string{"LMOVE", "q", "p", "RIGHT", "LEFT"}, "$1\r\n1\r\n"},
		{[]string{"LRANGE", "p", "0", "-1"}, "*1\r\n$1\r\n1\r\n"},
		{[]string{"LMOVE", "q", "p", "UP", "LEFT"}, "-ERR syntax error\r\n"},
		{[]string{"CLIENT", "SETINFO", "LIB-NAME", "redis-py"}, "+OK\r\n"},
		{[]string{"CLIENT", "SETINFO", "lib-ver", "8.1.0"}, "+OK\r\n"},
		{[]string{"CLIENT", "SETINFO", "LIB-NAME", "a b"}, "-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"},
		{[]string{"CLIENT", "SETINFO", "COLOR", "red"}, "-ERR Unrecognized option 'COLOR'\r\n"},
		{[]string{"COMMAND", "INFO", "lmove"}, "*1\r\n*10\r\n$5\r\nlmove\r\n:5\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:2\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n"},
	} {
		if got := do(t, c, tc.args...); got != tc.want {
			t.Errorf("%q = %q; want %q", tc.args, got, tc.want)
		}
	}
}

// TestTransactionQueueIsBounded: what MULTI queues counts against the
// client's query buffer limit; past it the transaction is dropped at once
// and EXEC refuses it.
func TestTransactionQueueIsBounded(t *testing.T) {
	cfg := tcpConfig()
	cfg.MaxQuery = 64 << 10
	s := start(t, cfg)
	c := dial(t, s)
	do(t, c, "MULTI")
	value := strings.Repeat("x", 20<<10)
	for i := 0; i < 3; i++ {
		if got := do(t, c, "SET", "k", value); got != "+QUEUED\r\n" {
			t.Fatalf("SET %d = %q", i, got)
		}
	}
	if got := do(t, c, "SET", "k", value); !strings.HasPrefix(got, "-ERR transaction discarded: the queued commands exceed the client query buffer limit") {
		t.Fatalf("fourth SET = %q; want the limit's error", got)
	}
	if got := do(t, c, "SET", "k", "v"); got != "+QUEUED\r\n" {
		t.Fatalf("SET after the limit = %q", got)
	}
	if got := do(t, c, "EXEC"); got != "-EXECABORT Transaction discarded because of previous errors.\r\n" {
		t.Fatalf("EXEC = %q", got)
	}
	if got := do(t, c, "EXISTS", "k"); got != ":0\r\n" {
		t.Fatalf("EXISTS = %q; a dropped transaction wrote", got)
	}
}

// TestClosingMidTransactionAppliesNothing: the queue and the watches of a
// connection go with it.
func TestClosingMidTransactionAppliesNothing(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	nc.Write([]byte("WATCH k\r\nMULTI\r\nSET k v\r\n"))
	for _, want := range []string{"+OK", "+OK", "+QUEUED"} {
		if l := readLine(t, r); l != want {
			t.Fatalf("got %q; want %q", l, want)
		}
	}
	nc.Close()
	deadline := time.Now().Add(3 * time.Second)
	for s.Clients() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c := dial(t, s)
	if got := do(t, c, "EXISTS", "k"); got != ":0\r\n" {
		t.Fatalf("EXISTS = %q; the queue of a closed connection ran", got)
	}
	// Its watch is gone too: a new one on the same key works as usual.
	do(t, c, "WATCH", "k")
	do(t, c, "MULTI")
	do(t, c, "SET", "k", "v")
	if got := do(t, c, "EXEC"); got != "*1\r\n+OK\r\n" {
		t.Fatalf("EXEC = %q", got)
	}
}

// TestBLMOVEWaitsAndMovesWhenServed: the value is in the destination as
// soon as the push that serves the waiter has returned.
func TestBLMOVEWaitsAndMovesWhenServed(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	nc.Write([]byte("BLMOVE jobs processing LEFT RIGHT 5\r\n"))
	waitBlocked(t, s, 1)
	c := dial(t, s)
	do(t, c, "RPUSH", "jobs", "job-1")
	if got := do(t, c, "LRANGE", "processing", "0", "-1"); got != "*1\r\n$5\r\njob-1\r\n" {
		t.Fatalf("destination right after the push = %q", got)
	}
	for _, want := range []string{"$5", "job-1"} {
		if l := readLine(t, r); l != want {
			t.Fatalf("BLMOVE reply line %q; want %q", l, want)
		}
	}
	nc.Write([]byte("BLMOVE jobs processing LEFT RIGHT 0.05\r\n"))
	if l := readLine(t, r); l != "$-1" {
		t.Fatalf("BLMOVE after its timeout = %q; want a null", l)
	}
}

// TestBLMOVEClientHangUpLosesNothing: a value pushed after a blocked mover
// went away stays in the source.
func TestBLMOVEClientHangUpLosesNothing(t *testing.T) {
	s := start(t, tcpConfig())
	nc, _ := rawConn(t, s)
	nc.Write([]byte("BLMOVE src dst LEFT LEFT 0\r\n"))
	waitBlocked(t, s, 1)
	nc.Close()
	deadline := time.Now().Add(3 * time.Second)
	for s.Clients() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c := dial(t, s)
	do(t, c, "RPUSH", "src", "v")
	if got := do(t, c, "LRANGE", "src", "0", "-1"); got != "*1\r\n$1\r\nv\r\n" {
		t.Fatalf("source = %q; the value went to a client that was gone", got)
	}
}

// waitBlocked waits until n clients are connected, then a little longer for
// their blocking command to be read.
func waitBlocked(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for s.Clients() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
}
