package server

import "testing"

// BZPOPMIN and BZPOPMAX wait as BLPOP does, on the same machinery: served
// once the command (or the whole EXEC) that added is done, and only by a
// key of their own type. The expected replies are redis-server 7.0's.
func TestBlockedZPopsAreServedBySortedSetsOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wait  string
		run   [][]string
		reply []string
		key   string
		left  string // ZRANGE key 0 -1 then
	}{{
		name:  "BZPOPMAX gets the highest member EXEC left",
		wait:  "BZPOPMAX k 0",
		run:   [][]string{{"MULTI"}, {"ZADD", "k", "1", "a", "2", "b", "3", "c"}, {"ZREM", "k", "c"}, {"EXEC"}},
		reply: []string{"*3", "$1", "k", "$1", "b", "$1", "2"},
		key:   "k", left: "*1\r\n$1\r\na\r\n",
	}, {
		name:  "BZPOPMIN on two keys: the first one added to",
		wait:  "BZPOPMIN a b 0",
		run:   [][]string{{"ZADD", "b", "-inf", "x", "5", "y"}},
		reply: []string{"*3", "$1", "b", "$1", "x", "$4", "-inf"},
		key:   "b", left: "*1\r\n$1\r\ny\r\n",
	}, {
		name:  "a list pushed to the key leaves BZPOPMIN waiting",
		wait:  "BZPOPMIN k 0",
		run:   [][]string{{"RPUSH", "k", "v"}, {"DEL", "k"}, {"ZADD", "k", "7", "m"}},
		reply: []string{"*3", "$1", "k", "$1", "m", "$1", "7"},
		key:   "k", left: "*0\r\n",
	}, {
		name:  "a sorted set added to the key leaves BLPOP waiting",
		wait:  "BLPOP k 0",
		run:   [][]string{{"ZADD", "k", "1", "a"}, {"DEL", "k"}, {"RPUSH", "k", "x"}},
		reply: []string{"*2", "$1", "k", "$1", "x"},
		key:   "k", left: "*0\r\n",
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
			if got := do(t, c, "ZRANGE", tc.key, "0", "-1"); got != tc.left {
				t.Fatalf("ZRANGE %s = %q; want %q", tc.key, got, tc.left)
			}
		})
	}
}

// A BZPOPMIN whose client hangs up gives its wait up; a BZPOPMIN in EXEC
// does not wait, it answers as a timeout does.
func TestBZPopInExecAndAfterAHangUp(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	do(t, c, "MULTI")
	do(t, c, "BZPOPMIN", "none", "0")
	if got := do(t, c, "EXEC"); got != "*1\r\n*-1\r\n" {
		t.Fatalf("EXEC of BZPOPMIN on no key = %q", got)
	}
	nc, _ := rawConn(t, s)
	nc.Write([]byte("BZPOPMIN k 0\r\n"))
	waitForInfo(t, c, "blocked_clients", "1")
	nc.Close()
	waitForInfo(t, c, "blocked_clients", "0")
	do(t, c, "ZADD", "k", "1", "a")
	if got := do(t, c, "ZCARD", "k"); got != ":1\r\n" {
		t.Fatalf("ZCARD after the waiter hung up = %q; the member went to nobody", got)
	}
}
