package server

import (
	"strings"
	"testing"
)

// A RENAME onto the key a pop waits for serves the pop, as in Redis: the
// renamed list arrives like a push.
func TestRenameServesAPopBlockedOnTheDestination(t *testing.T) {
	for _, tc := range []struct{ name, move string }{
		{"RENAME", "RENAME"}, {"RENAMENX", "RENAMENX"}, {"COPY", "COPY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tcpConfig())
			nc, r := rawConn(t, s)
			c := dial(t, s)
			do(t, c, "RPUSH", "src", "a", "b")
			nc.Write([]byte("BLPOP dst 0\r\n"))
			waitForInfo(t, c, "blocked_clients", "1")
			do(t, c, tc.move, "src", "dst")
			readReply(t, r, []string{"*2", "$3", "dst", "$1", "a"})
			if got := do(t, c, "LRANGE", "dst", "0", "-1"); got != "*1\r\n$1\r\nb\r\n" {
				t.Fatalf("LRANGE dst after the pop = %q", got)
			}
		})
	}
}

// WATCH sees both keys of a RENAME change, and the destination of a COPY.
func TestRenameAndCopyBreakWatchesOfTheirKeys(t *testing.T) {
	for _, tc := range []struct {
		watch string
		run   []string
	}{
		{"src", []string{"RENAME", "src", "dst"}},
		{"dst", []string{"RENAME", "src", "dst"}},
		{"dst", []string{"COPY", "src", "dst"}},
		{"dst", []string{"RPOPLPUSH", "src", "dst"}},
		{"src", []string{"LREM", "src", "0", "v"}},
		{"src", []string{"APPEND", "src", "v"}},
	} {
		t.Run(strings.Join(tc.run, " ")+" watched "+tc.watch, func(t *testing.T) {
			s := start(t, tcpConfig())
			watcher, other := dial(t, s), dial(t, s)
			do(t, other, "RPUSH", "src", "v")
			if tc.run[0] == "APPEND" {
				do(t, other, "SET", "src", "v")
			}
			do(t, watcher, "WATCH", tc.watch)
			do(t, other, tc.run...)
			do(t, watcher, "MULTI")
			do(t, watcher, "PING")
			if got := do(t, watcher, "EXEC"); got != "*-1\r\n" {
				t.Fatalf("EXEC after %q of a watched key = %q; want a null array", tc.run, got)
			}
		})
	}
}

// The commands' replies on edge cases are redis-server 7.0's (the Python
// suite, tests/test_more_commands.py, compares many more side by side).
func TestMoreCommandReplies(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SET", "s", "hello"}, "+OK\r\n"},
		{[]string{"APPEND", "s", "!"}, ":6\r\n"},
		{[]string{"GETRANGE", "s", "-3", "-1"}, "$3\r\nlo!\r\n"},
		{[]string{"SUBSTR", "s", "4", "1"}, "$0\r\n\r\n"},
		{[]string{"SETRANGE", "s", "-1", "x"}, "-ERR offset is out of range\r\n"},
		{[]string{"SETRANGE", "s", "536870912", "x"}, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
		{[]string{"SETRANGE", "pad", "2", "x"}, ":3\r\n"},
		{[]string{"GET", "pad"}, "$3\r\n\x00\x00x\r\n"},
		{[]string{"MSETNX", "s", "1", "new", "2"}, ":0\r\n"},
		{[]string{"EXISTS", "new"}, ":0\r\n"},
		{[]string{"RENAME", "missing", "x"}, "-ERR no such key\r\n"},
		{[]string{"COPY", "s", "s"}, "-ERR source and destination objects are the same\r\n"},
		{[]string{"COPY", "s", "t", "DB", "1"}, "-ERR DB index is out of range (tiny-mp-cache has only database 0)\r\n"},
		{[]string{"RPUSH", "l", "a", "b", "a"}, ":3\r\n"},
		{[]string{"LINDEX", "s", "0"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"LSET", "l", "3", "x"}, "-ERR index out of range\r\n"},
		{[]string{"LSET", "nokey", "0", "x"}, "-ERR no such key\r\n"},
		{[]string{"LINSERT", "l", "ABOVE", "a", "x"}, "-ERR syntax error\r\n"},
		{[]string{"LPOS", "l", "a", "RANK", "-1", "COUNT", "0"}, "*2\r\n:2\r\n:0\r\n"},
		{[]string{"LREM", "l", "0", "a"}, ":2\r\n"},
		{[]string{"LPUSHX", "nokey", "a"}, ":0\r\n"},
		{[]string{"EXISTS", "nokey"}, ":0\r\n"},
		{[]string{"RPOPLPUSH", "l", "l2"}, "$1\r\nb\r\n"},
		{[]string{"EXISTS", "l"}, ":0\r\n"},
		{[]string{"BRPOPLPUSH", "l", "l2", "0.01"}, "*-1\r\n"},
		{[]string{"LMPOP", "2", "l", "l2", "LEFT", "COUNT", "9"}, "*2\r\n$2\r\nl2\r\n*1\r\n$1\r\nb\r\n"},
	} {
		if got := do(t, c, tc.args...); got != tc.want {
			t.Errorf("%q = %q; want %q", tc.args, got, tc.want)
		}
	}
}

// A blocked BLMPOP takes up to its count from the push that wakes it.
func TestBLMPopWaitsAndTakesItsCount(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	c := dial(t, s)
	nc.Write([]byte("BLMPOP 0 2 a l RIGHT COUNT 2\r\n"))
	waitForInfo(t, c, "blocked_clients", "1")
	do(t, c, "RPUSH", "l", "x", "y", "z")
	readReply(t, r, []string{"*2", "$1", "l", "*2", "$1", "z", "$1", "y"})
	if got := do(t, c, "LRANGE", "l", "0", "-1"); got != "*1\r\n$1\r\nx\r\n" {
		t.Fatalf("LRANGE l after BLMPOP = %q", got)
	}
}
