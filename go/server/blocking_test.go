package server

import (
	"bufio"
	"strings"
	"testing"
)

// Blocked pops are served once the command that pushed is done, and for
// EXEC once the whole transaction is: the waiter sees the lists as the
// transaction left them, as in Redis (which serves its "ready keys" after
// each command). Each case blocks one client, runs the other client's
// commands, and reads the waiter's reply and the list it waited on.
// The expected replies are redis-server 7.0's.
func TestBlockedPopsAreServedAfterTheWholeTransaction(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wait  string     // the blocking command
		run   [][]string // the other client's commands, in order
		reply []string   // the waiter's reply, line by line
		key   string     // the list to read afterwards
		left  string     // LRANGE key 0 -1 then
	}{{
		name: "three LPUSHes in EXEC: the waiter gets the last",
		wait: "BLPOP blist 0",
		run: [][]string{{"MULTI"}, {"LPUSH", "blist", "a"}, {"LPUSH", "blist", "b"},
			{"LPUSH", "blist", "c"}, {"EXEC"}},
		reply: []string{"*2", "$5", "blist", "$1", "c"},
		key:   "blist", left: "*2\r\n$1\r\nb\r\n$1\r\na\r\n",
	}, {
		name:  "LPUSH then DEL in EXEC wakes nobody: the next push does",
		wait:  "BLPOP list 0",
		run:   [][]string{{"MULTI"}, {"LPUSH", "list", "a"}, {"DEL", "list"}, {"EXEC"}, {"LPUSH", "list", "b"}},
		reply: []string{"*2", "$4", "list", "$1", "b"},
		key:   "list", left: "*0\r\n",
	}, {
		name: "LPUSH, DEL, SET in EXEC wakes nobody: the next push does",
		wait: "BLPOP list 0",
		run: [][]string{{"MULTI"}, {"LPUSH", "list", "a"}, {"DEL", "list"}, {"SET", "list", "foo"}, {"EXEC"},
			{"DEL", "list"}, {"LPUSH", "list", "b"}},
		reply: []string{"*2", "$4", "list", "$1", "b"},
		key:   "list", left: "*0\r\n",
	}, {
		name:  "BRPOP: two RPUSHes in EXEC, the waiter gets the tail",
		wait:  "BRPOP l 0",
		run:   [][]string{{"MULTI"}, {"RPUSH", "l", "a", "b"}, {"RPUSH", "l", "c"}, {"EXEC"}},
		reply: []string{"*2", "$1", "l", "$1", "c"},
		key:   "l", left: "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
	}, {
		name:  "BLMOVE moves what EXEC left at the head",
		wait:  "BLMOVE src dst LEFT RIGHT 0",
		run:   [][]string{{"MULTI"}, {"RPUSH", "src", "x", "y"}, {"LPOP", "src"}, {"EXEC"}},
		reply: []string{"$1", "y"},
		key:   "dst", left: "*1\r\n$1\r\ny\r\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tcpConfig())
			nc, r := rawConn(t, s)
			c := dial(t, s)
			nc.Write([]byte(tc.wait + "\r\n"))
			waitForInfo(t, c, "blocked_clients", "1")
			for _, args := range tc.run {
				do(t, c, args...)
			}
			readReply(t, r, tc.reply)
			if got := do(t, c, "LRANGE", tc.key, "0", "-1"); got != tc.left {
				t.Fatalf("LRANGE %s = %q; want %q", tc.key, got, tc.left)
			}
		})
	}
}

// A push outside a transaction still serves at once: the waiter has its
// value by the time the pusher reads its reply, and a value a BLMOVE
// moved serves a pop blocked on the destination within the same command.
func TestAPushServesChainedWaitersBeforeItsReply(t *testing.T) {
	s := start(t, tcpConfig())
	mover, mr := rawConn(t, s)
	popper, pr := rawConn(t, s)
	c := dial(t, s)
	mover.Write([]byte("BLMOVE src dst LEFT LEFT 0\r\n"))
	waitForInfo(t, c, "blocked_clients", "1")
	popper.Write([]byte("BLPOP dst 0\r\n"))
	waitForInfo(t, c, "blocked_clients", "2")
	do(t, c, "RPUSH", "src", "v")
	if got := do(t, c, "EXISTS", "src", "dst"); got != ":0\r\n" {
		t.Fatalf("EXISTS src dst right after the push = %q; both waiters should have been served", got)
	}
	readReply(t, mr, []string{"$1", "v"})
	readReply(t, pr, []string{"*2", "$3", "dst", "$1", "v"})
}

func readReply(t *testing.T, r *bufio.Reader, want []string) {
	t.Helper()
	var got []string
	for range want {
		got = append(got, readLine(t, r))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("waiter's reply %q; want %q", got, want)
	}
}
