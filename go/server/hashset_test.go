package server

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// TestHashAndSetReplies is a table of hash and set commands and the exact
// replies Redis 7.0 gives for them (RESP2), run in order on one server.
// Only replies whose order Redis does not leave open are here; the
// Python suite checks the rest side by side with redis-server.
func TestHashAndSetReplies(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"HSET", "h", "a", "1", "b", "2"}, ":2\r\n"},
		{[]string{"HSET", "h", "a"}, "-ERR wrong number of arguments for 'hset' command\r\n"},
		{[]string{"HMSET", "h", "a", "1", "b"}, "-ERR wrong number of arguments for 'hmset' command\r\n"},
		{[]string{"HMSET", "h", "a", "3"}, "+OK\r\n"},
		{[]string{"HSETNX", "h", "a", "5"}, ":0\r\n"},
		{[]string{"HGET", "h", "a"}, "$1\r\n3\r\n"},
		{[]string{"HGET", "h", "nope"}, "$-1\r\n"},
		{[]string{"HMGET", "h", "b", "nope"}, "*2\r\n$1\r\n2\r\n$-1\r\n"},
		{[]string{"HMGET", "none", "a"}, "*1\r\n$-1\r\n"},
		{[]string{"HGETALL", "none"}, "*0\r\n"},
		{[]string{"HEXISTS", "h", "a"}, ":1\r\n"},
		{[]string{"HSTRLEN", "h", "a"}, ":1\r\n"},
		{[]string{"HSTRLEN", "h", "nope"}, ":0\r\n"},
		{[]string{"HLEN", "h"}, ":2\r\n"},
		{[]string{"TYPE", "h"}, "+hash\r\n"},
		{[]string{"HINCRBY", "h", "a", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"HINCRBY", "h", "a", "-4"}, ":-1\r\n"},
		{[]string{"HSET", "h", "s", "abc", "max", "9223372036854775807"}, ":2\r\n"},
		{[]string{"HINCRBY", "h", "s", "1"}, "-ERR hash value is not an integer\r\n"},
		{[]string{"HINCRBY", "h", "max", "1"}, "-ERR increment or decrement would overflow\r\n"},
		{[]string{"HINCRBYFLOAT", "h", "f", "0.1"}, "$3\r\n0.1\r\n"},
		{[]string{"HINCRBYFLOAT", "h", "f", "0.2"}, "$3\r\n0.3\r\n"},
		{[]string{"HINCRBYFLOAT", "h", "s", "1"}, "-ERR hash value is not a float\r\n"},
		{[]string{"HINCRBYFLOAT", "h", "f", "inf"}, "-ERR value is NaN or Infinity\r\n"},
		{[]string{"HINCRBYFLOAT", "h", "f", "x"}, "-ERR value is not a valid float\r\n"},
		{[]string{"HRANDFIELD", "none"}, "$-1\r\n"},
		{[]string{"HRANDFIELD", "none", "3"}, "*0\r\n"},
		{[]string{"HRANDFIELD", "h", "0"}, "*0\r\n"},
		{[]string{"HRANDFIELD", "h", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"HRANDFIELD", "h", "1", "WITHVALUE"}, "-ERR syntax error\r\n"},
		{[]string{"HRANDFIELD", "h", "-9223372036854775808"}, "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"},
		{[]string{"HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"}, "-ERR value is out of range\r\n"},
		{[]string{"HSCAN", "h", "x"}, "-ERR invalid cursor\r\n"},
		{[]string{"HSCAN", "h", "0", "COUNT", "0"}, "-ERR syntax error\r\n"},
		{[]string{"HSCAN", "h", "0", "COUNT", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"HSCAN", "h", "0", "MATCH"}, "-ERR syntax error\r\n"},
		{[]string{"HSCAN", "h", "0", "MATCH", "b"}, "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"},
		{[]string{"HSCAN", "none", "0"}, "*2\r\n$1\r\n0\r\n*0\r\n"},
		{[]string{"HDEL", "h", "a", "b", "s", "max", "f", "nope"}, ":5\r\n"},
		{[]string{"EXISTS", "h"}, ":0\r\n"},

		{[]string{"SADD", "s", "a", "b", "a"}, ":2\r\n"},
		{[]string{"SREM", "s", "b", "nope"}, ":1\r\n"},
		{[]string{"SMEMBERS", "s"}, "*1\r\n$1\r\na\r\n"},
		{[]string{"SMEMBERS", "none"}, "*0\r\n"},
		{[]string{"SISMEMBER", "s", "a"}, ":1\r\n"},
		{[]string{"SMISMEMBER", "s", "a", "z"}, "*2\r\n:1\r\n:0\r\n"},
		{[]string{"SCARD", "s"}, ":1\r\n"},
		{[]string{"TYPE", "s"}, "+set\r\n"},
		{[]string{"SPOP", "s", "0"}, "*0\r\n"},
		{[]string{"SPOP", "none", "2"}, "*0\r\n"},
		{[]string{"SPOP", "none"}, "$-1\r\n"},
		{[]string{"SPOP", "s", "-1"}, "-ERR value is out of range, must be positive\r\n"},
		{[]string{"SPOP", "s", "1", "2"}, "-ERR syntax error\r\n"},
		{[]string{"SRANDMEMBER", "s"}, "$1\r\na\r\n"},
		{[]string{"SRANDMEMBER", "s", "-2"}, "*2\r\n$1\r\na\r\n$1\r\na\r\n"},
		{[]string{"SRANDMEMBER", "s", "5"}, "*1\r\n$1\r\na\r\n"},
		{[]string{"SRANDMEMBER", "none", "-5"}, "*0\r\n"},
		{[]string{"SRANDMEMBER", "none"}, "$-1\r\n"},
		{[]string{"SADD", "t", "a", "b"}, ":2\r\n"},
		{[]string{"SINTER", "s", "t"}, "*1\r\n$1\r\na\r\n"},
		{[]string{"SINTER", "s", "none"}, "*0\r\n"},
		{[]string{"SDIFF", "t", "s"}, "*1\r\n$1\r\nb\r\n"},
		{[]string{"SUNIONSTORE", "u", "s", "t"}, ":2\r\n"},
		{[]string{"SINTERSTORE", "u", "s", "none"}, ":0\r\n"},
		{[]string{"EXISTS", "u"}, ":0\r\n"},
		{[]string{"SDIFFSTORE", "u", "t", "s"}, ":1\r\n"},
		{[]string{"SINTERCARD", "2", "s", "t"}, ":1\r\n"},
		{[]string{"SINTERCARD", "1", "t", "LIMIT", "1"}, ":1\r\n"},
		{[]string{"SINTERCARD", "0", "s"}, "-ERR numkeys should be greater than 0\r\n"},
		{[]string{"SINTERCARD", "3", "s", "t"}, "-ERR Number of keys can't be greater than number of args\r\n"},
		{[]string{"SINTERCARD", "1", "s", "LIMIT", "-1"}, "-ERR LIMIT can't be negative\r\n"},
		{[]string{"SINTERCARD", "1", "s", "FOO", "1"}, "-ERR syntax error\r\n"},
		{[]string{"SMOVE", "t", "s", "b"}, ":1\r\n"},
		{[]string{"SMOVE", "t", "s", "b"}, ":0\r\n"},
		{[]string{"SSCAN", "s", "0", "MATCH", "b*"}, "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nb\r\n"},

		// WRONGTYPE across the types, both ways.
		{[]string{"SET", "str", "x"}, "+OK\r\n"},
		{[]string{"HSET", "str", "f", "v"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"SADD", "str", "m"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"HSET", "hh", "f", "v"}, ":1\r\n"},
		{[]string{"GET", "hh"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"LPUSH", "hh", "x"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"SMEMBERS", "hh"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"SINTER", "none", "hh"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"SMOVE", "s", "hh", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"HGET", "s", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"SCAN", "0", "TYPE", "hash"}, "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nhh\r\n"},
		// A store onto a key of another type replaces it.
		{[]string{"SUNIONSTORE", "str", "s"}, ":2\r\n"},
		{[]string{"TYPE", "str"}, "+set\r\n"},
	} {
		if got := do(t, c, tc.args...); got != tc.want {
			t.Errorf("%q = %q; want %q", tc.args, got, tc.want)
		}
	}
}

// TestHashAndSetRESP3: a map for HGETALL, sets for SMEMBERS and the set
// algebra and SPOP with a count, [field, value] pairs for HRANDFIELD
// WITHVALUES, as Redis 7.0 replies in RESP3.
func TestHashAndSetRESP3(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	nc.Write([]byte("HELLO 3\r\n"))
	for i := 0; i < 26; i++ {
		readLine(t, r)
	}
	nc.Write([]byte("HSET h f v\r\nHGETALL h\r\nHGETALL none\r\nHRANDFIELD h 1 WITHVALUES\r\nHRANDFIELD none\r\n" +
		"SADD s m\r\nSMEMBERS s\r\nSUNION s none\r\nSPOP none 1\r\nSRANDMEMBER s 1\r\nSPOP s 1\r\n"))
	for _, want := range []string{
		":1",
		"%1", "$1", "f", "$1", "v",
		"%0",
		"*1", "*2", "$1", "f", "$1", "v",
		"_",
		":1",
		"~1", "$1", "m",
		"~1", "$1", "m",
		"~0",
		"*1", "$1", "m",
		"~1", "$1", "m",
	} {
		if l := readLine(t, r); l != want {
			t.Fatalf("got %q; want %q", l, want)
		}
	}
}

// TestHugeRandomCountClosesOnlyThatClient: SRANDMEMBER and HRANDFIELD
// with a huge negative count would make 2**63 picks (Redis tries, and
// grows by gigabytes); here the reply stops at max_output and closes the
// connection, having allocated little more than that, and the server goes
// on serving everyone else.
func TestHugeRandomCountClosesOnlyThatClient(t *testing.T) {
	cfg := tcpConfig()
	cfg.MaxOutput = 1 << 20
	s := start(t, cfg)
	c := dial(t, s)
	do(t, c, "SADD", "s", "a", "b")
	do(t, c, "HSET", "h", "f", "v")
	for _, cmd := range []string{"SRANDMEMBER s -9223372036854775807", "HRANDFIELD h -4611686018427387903 WITHVALUES"} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		nc, r := rawConn(t, s)
		nc.Write([]byte(cmd + "\r\n"))
		if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
			t.Fatalf("%s: %d bytes, %v; want a hang-up and nothing", cmd, len(rest), err)
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Fatalf("%s allocated %d MiB", cmd, grew>>20)
		}
	}
	if got := do(t, c, "SCARD", "s"); got != ":2\r\n" {
		t.Fatalf("another client: %q", got)
	}
}

// TestHashesAndSetsBoundedByMaxMemory: fields and members count against
// max_memory, so filling hashes and sets far past it evicts keys and
// keeps used_memory under the bound.
func TestHashesAndSetsBoundedByMaxMemory(t *testing.T) {
	cfg := tcpConfig()
	cfg.MaxMemory = 64 << 10
	s := start(t, cfg)
	c := dial(t, s)
	val := strings.Repeat("x", 500)
	for i := 0; i < 1000; i++ {
		if got := do(t, c, "HSET", fmt.Sprint("h", i%50), fmt.Sprint("f", i), val); got != ":1\r\n" {
			t.Fatalf("HSET: %q", got)
		}
		if got := do(t, c, "SADD", fmt.Sprint("s", i%50), fmt.Sprint(val, i)); got != ":1\r\n" {
			t.Fatalf("SADD: %q", got)
		}
		if st := s.store.Stats(); st.UsedMemory > st.MaxMemory {
			t.Fatalf("used %d over the bound %d", st.UsedMemory, st.MaxMemory)
		}
	}
	if st := s.store.Stats(); st.Evictions == 0 {
		t.Fatal("1 MB of fields under a 64 KiB bound evicted nothing")
	}
}

// TestWatchSeesHashAndSetChanges: WATCH's check-and-set covers hashes and
// sets, changed by another client or emptied and so deleted.
func TestWatchSeesHashAndSetChanges(t *testing.T) {
	s := start(t, tcpConfig())
	c, other := dial(t, s), dial(t, s)
	for _, change := range [][]string{
		{"HSET", "h", "f", "2"},
		{"HDEL", "h", "f"},
		{"SADD", "s", "n"},
		{"SPOP", "s", "5"},
		{"SMOVE", "src", "s", "m"},
	} {
		do(t, c, "HSET", "h", "f", "1")
		do(t, c, "SADD", "s", "m")
		do(t, c, "SADD", "src", "m")
		do(t, c, "WATCH", change[1])
		do(t, other, change...)
		do(t, c, "MULTI")
		do(t, c, "SET", "x", "y")
		if got := do(t, c, "EXEC"); got != "*-1\r\n" {
			t.Errorf("%q by another client: EXEC = %q; want the null of a failed WATCH", change, got)
		}
	}
	do(t, c, "WATCH", "h")
	do(t, other, "HGET", "h", "f")
	do(t, other, "HSETNX", "h", "f", "3") // a field there already: no change
	do(t, c, "MULTI")
	if got := do(t, c, "EXEC"); got != "*0\r\n" {
		t.Errorf("reads only: EXEC = %q", got)
	}
}
