package server

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/client"
	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// do sends a command and returns the raw reply.
func do(t *testing.T, c *client.Client, args ...string) string {
	t.Helper()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	raw, err := c.Do(bs...)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return string(raw)
}

func dial(t *testing.T, s *Server) *client.Client {
	t.Helper()
	c, err := client.Dial(clientAddr(s), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestCommandReplies is a table of commands and the exact replies Redis
// gives for them, run in order against one server.
func TestCommandReplies(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SET", "k", "v", "NX"}, "+OK\r\n"},
		{[]string{"SET", "k", "w", "NX"}, "$-1\r\n"},
		{[]string{"SET", "nope", "w", "XX"}, "$-1\r\n"},
		{[]string{"SET", "k", "v", "EX", "0"}, "-ERR invalid expire time in 'set' command\r\n"},
		{[]string{"SET", "k", "v", "EX", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SET", "k", "v", "BOGUS"}, "-ERR syntax error\r\n"},
		{[]string{"SET", "k", "v", "NX", "XX"}, "-ERR syntax error\r\n"},
		{[]string{"SET", "t", "v", "PX", "100000"}, "+OK\r\n"},
		{[]string{"TTL", "t"}, ":100\r\n"},
		{[]string{"TTL", "k"}, ":-1\r\n"},
		{[]string{"TTL", "missing"}, ":-2\r\n"},
		{[]string{"EXPIRE", "k", "50"}, ":1\r\n"},
		{[]string{"EXPIRE", "missing", "50"}, ":0\r\n"},
		// Absolute deadlines: any whose Unix milliseconds fit in an int64.
		{[]string{"SET", "far", "v"}, "+OK\r\n"},
		{[]string{"EXPIREAT", "far", "9999999998", "NX"}, ":1\r\n"},
		{[]string{"EXISTS", "far"}, ":1\r\n"},
		{[]string{"PEXPIREAT", "far", "9223372036854770000"}, ":1\r\n"},
		{[]string{"EXISTS", "far"}, ":1\r\n"},
		{[]string{"EXPIREAT", "far", "9223372036854776"}, "-ERR invalid expire time in 'expireat' command\r\n"},
		{[]string{"EXPIRE", "far", "9223370399119966"}, "-ERR invalid expire time in 'expire' command\r\n"},
		{[]string{"PEXPIRE", "far", "9223372036854770000"}, "-ERR invalid expire time in 'pexpire' command\r\n"},
		{[]string{"EXPIRE", "far", "-9223372036854776"}, "-ERR invalid expire time in 'expire' command\r\n"},
		{[]string{"SET", "far", "v", "EXAT", "9999999998"}, "+OK\r\n"},
		{[]string{"SET", "far", "v", "EX", "9223372036854775"}, "-ERR invalid expire time in 'set' command\r\n"},
		{[]string{"PEXPIREAT", "far", "-9223372036854770000"}, ":1\r\n"},
		{[]string{"EXISTS", "far"}, ":0\r\n"},
		{[]string{"PERSIST", "k"}, ":1\r\n"},
		{[]string{"PERSIST", "k"}, ":0\r\n"},
		{[]string{"PEXPIRE", "t", "-1"}, ":1\r\n"},
		{[]string{"EXISTS", "t", "k", "k"}, ":2\r\n"},
		{[]string{"MSET", "a", "1", "b", "2"}, "+OK\r\n"},
		{[]string{"MSET", "a", "1", "b"}, "-ERR wrong number of arguments for 'mset' command\r\n"},
		{[]string{"MGET", "a", "zz", "b"}, "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n"},
		{[]string{"INCR", "a"}, ":2\r\n"},
		{[]string{"INCRBY", "a", "40"}, ":42\r\n"},
		{[]string{"DECR", "a"}, ":41\r\n"},
		{[]string{"DECRBY", "a", "41"}, ":0\r\n"},
		{[]string{"INCR", "k"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"RPUSH", "q", "1", "2", "3"}, ":3\r\n"},
		{[]string{"LPUSH", "q", "0"}, ":4\r\n"},
		{[]string{"LLEN", "q"}, ":4\r\n"},
		{[]string{"LRANGE", "q", "0", "-1"}, "*4\r\n$1\r\n0\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"},
		{[]string{"LPOP", "q"}, "$1\r\n0\r\n"},
		{[]string{"RPOP", "q", "2"}, "*2\r\n$1\r\n3\r\n$1\r\n2\r\n"},
		{[]string{"TYPE", "q"}, "+list\r\n"},
		{[]string{"TYPE", "k"}, "+string\r\n"},
		{[]string{"TYPE", "missing"}, "+none\r\n"},
		{[]string{"GET", "q"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"LPUSH", "k", "x"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"LPOP", "missing"}, "$-1\r\n"},
		{[]string{"LPOP", "missing", "2"}, "*-1\r\n"},
		{[]string{"RPUSH", "q", "2", "3"}, ":3\r\n"},
		{[]string{"BLPOP", "q", "0.01"}, "*2\r\n$1\r\nq\r\n$1\r\n1\r\n"},
		{[]string{"BRPOP", "q", "0.01"}, "*2\r\n$1\r\nq\r\n$1\r\n3\r\n"},
		{[]string{"BLPOP", "q", "0.01"}, "*2\r\n$1\r\nq\r\n$1\r\n2\r\n"},
		{[]string{"BLPOP", "q", "0.01"}, "*-1\r\n"},
		{[]string{"BLPOP", "q", "-1"}, "-ERR timeout is negative\r\n"},
		{[]string{"BLPOP", "q", "soon"}, "-ERR timeout is not a float or out of range\r\n"},
		{[]string{"SELECT", "0"}, "+OK\r\n"},
		{[]string{"SELECT", "1"}, "-ERR DB index is out of range (tiny-mp-cache has only database 0)\r\n"},
		{[]string{"CLIENT", "SETINFO", "LIB-NAME", "redis-py"}, "+OK\r\n"},
		{[]string{"CONFIG", "GET", "save"}, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{[]string{"CONFIG", "GET", "appendonly"}, "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"},
		{[]string{"HELLO", "4"}, "-NOPROTO unsupported protocol version\r\n"},
		{[]string{"COMMAND", "INFO", "get"}, "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$-1\r\n"},
		{[]string{"CLIENT", "SETNAME", "worker-1"}, "+OK\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$8\r\nworker-1\r\n"},
		{[]string{"ECHO", "hi"}, "$2\r\nhi\r\n"},
		{[]string{"DBSIZE"}, ":3\r\n"},
		{[]string{"FLUSHDB"}, "+OK\r\n"},
		{[]string{"DBSIZE"}, ":0\r\n"},
		{[]string{"SCAN", "0"}, "*2\r\n$1\r\n0\r\n*0\r\n"},
	} {
		if got := do(t, c, tc.args...); got != tc.want {
			t.Errorf("%q = %q; want %q", tc.args, got, tc.want)
		}
	}
}

func TestRESP3(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	nc.Write([]byte("HELLO 3\r\n"))
	if l := readLine(t, r); l != "%7" {
		t.Fatalf("HELLO 3 reply starts %q; want a map", l)
	}
	for i := 0; i < 25; i++ { // the 7 pairs take 25 lines
		readLine(t, r)
	}
	nc.Write([]byte("GET missing\r\nBLPOP q 0.01\r\nCONFIG GET appendonly\r\n"))
	for _, want := range []string{"_", "_", "%1", "$10", "appendonly", "$2", "no"} {
		if l := readLine(t, r); l != want {
			t.Fatalf("got %q; want %q", l, want)
		}
	}
}

func TestHelloAndInfo(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	if got := do(t, c, "HELLO", "2"); !strings.Contains(got, "$7\r\nversion\r\n$5\r\n"+redisVersion) {
		t.Fatalf("HELLO 2 = %q", got)
	}
	do(t, c, "SET", "a", "1")
	do(t, c, "GET", "a")
	do(t, c, "GET", "b")
	info := do(t, c, "INFO")
	for _, want := range []string{"redis_version:" + redisVersion, "connected_clients:1",
		"keyspace_hits:1", "keyspace_misses:1", "db0:keys=1,expires=0", "maxmemory:0", "evicted_keys:0"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q", want)
		}
	}
	if mem := do(t, c, "INFO", "memory"); strings.Contains(mem, "# Stats") || !strings.Contains(mem, "# Memory") {
		t.Fatalf("INFO memory = %q", mem)
	}
}

func TestMaxMemoryEvictsAndNoEvictionRefuses(t *testing.T) {
	cfg := tcpConfig()
	cfg.MaxMemory = 64 << 10
	s := start(t, cfg)
	c := dial(t, s)
	val := strings.Repeat("x", 1000)
	for i := 0; i < 1000; i++ {
		if got := do(t, c, "SET", fmt.Sprint("k", i), val); got != "+OK\r\n" {
			t.Fatalf("SET under sieve: %q", got)
		}
	}
	st := s.store.Stats()
	if st.UsedMemory > st.MaxMemory || st.Evictions == 0 {
		t.Fatalf("used %d of %d with %d evictions", st.UsedMemory, st.MaxMemory, st.Evictions)
	}

	cfg.EvictionPolicy = "noeviction"
	s2 := start(t, cfg)
	c2 := dial(t, s2)
	var last string
	for i := 0; i < 1000 && !strings.HasPrefix(last, "-"); i++ {
		last = do(t, c2, "SET", fmt.Sprint("k", i), val)
	}
	if !strings.HasPrefix(last, "-OOM") {
		t.Fatalf("noeviction: last reply %q; want an OOM error", last)
	}
	if got := do(t, c2, "GET", "k0"); got != "$1000\r\n"+val+"\r\n" {
		t.Fatal("noeviction lost a key")
	}
	if _, err := Listen(Config{Network: "tcp", Addr: "127.0.0.1:0", EvictionPolicy: "lru"}); err == nil {
		t.Fatal("unknown eviction policy accepted")
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"512MB": 512 << 20, "1gb": 1 << 30, "100": 100, "1.5k": 1536, "64 KiB": 64 << 10} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1MB", "12XB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", bad)
		}
	}
}

func TestBLPOPWakesOneWaiterPerValue(t *testing.T) {
	s := start(t, tcpConfig())
	const waiters = 5
	results := make(chan string, waiters)
	var wg sync.WaitGroup
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, s)
			results <- do(t, c, "BLPOP", "jobs", "other", "3")
		}()
	}
	// Wait until all are blocked, then push fewer values than waiters.
	deadline := time.Now().Add(3 * time.Second)
	for s.Clients() < waiters && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	c := dial(t, s)
	start := time.Now()
	do(t, c, "RPUSH", "jobs", "j1", "j2", "j3")
	got := map[string]int{}
	for i := 0; i < 3; i++ {
		select {
		case r := <-results:
			got[r]++
		case <-time.After(2 * time.Second):
			t.Fatal("a blocked pop was not woken by a push")
		}
	}
	// The waiters' own timeout is 3s: a wake-up by the push comes earlier.
	if wake := time.Since(start); wake > 2500*time.Millisecond {
		t.Fatalf("waking took %v", wake)
	}
	wg.Wait()
	close(results)
	for r := range results {
		got[r]++
	}
	for _, j := range []string{"j1", "j2", "j3"} {
		if got["*2\r\n$4\r\njobs\r\n$2\r\n"+j+"\r\n"] != 1 {
			t.Fatalf("replies %q: %s not delivered exactly once", got, j)
		}
	}
	if got["*-1\r\n"] != 2 {
		t.Fatalf("replies %q: want 2 timeouts", got)
	}
}

// TestBLPOPClientHangUpLosesNothing: a value pushed after a blocked client
// went away must stay in the list for the next consumer.
func TestBLPOPClientHangUpLosesNothing(t *testing.T) {
	s := start(t, tcpConfig())
	nc, _ := rawConn(t, s)
	nc.Write([]byte("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n"))
	deadline := time.Now().Add(3 * time.Second)
	for s.Clients() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	nc.Close()
	for s.Clients() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.Clients() != 0 {
		t.Fatal("the server did not notice the blocked client hang up")
	}
	c := dial(t, s)
	do(t, c, "RPUSH", "q", "job")
	if got := do(t, c, "LPOP", "q"); got != "$3\r\njob\r\n" {
		t.Fatalf("LPOP = %q; the value went to a client that was gone", got)
	}
}

// TestBLPOPKeepsPipelinedCommands: commands sent while blocked run after.
func TestBLPOPKeepsPipelinedCommands(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	nc.Write([]byte("BLPOP q 2\r\n"))
	time.Sleep(50 * time.Millisecond)
	nc.Write([]byte("PING\r\n"))
	c := dial(t, s)
	do(t, c, "RPUSH", "q", "x")
	for _, want := range []string{"*2", "$1", "q", "$1", "x", "+PONG"} {
		if l := readLine(t, r); l != want {
			t.Fatalf("got %q; want %q", l, want)
		}
	}
}

func TestActiveExpiry(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	for i := 0; i < 100; i++ {
		do(t, c, "SET", fmt.Sprint("k", i), "v", "PX", "20")
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.store.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := s.store.Len(); n != 0 {
		t.Fatalf("%d expired keys never read are still held", n)
	}
}

func TestSlowClientsDoNotBlockOthers(t *testing.T) {
	s := start(t, tcpConfig())
	for i := 0; i < 20; i++ {
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nhalf")) // never finished
	}
	c := dial(t, s)
	if got := do(t, c, "PING"); got != "+PONG\r\n" {
		t.Fatalf("PING = %q", got)
	}
}

func TestClientPipelineAndDoWait(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	raw, err := c.Pipeline([][][]byte{
		{[]byte("SET"), []byte("a"), []byte("1")},
		{[]byte("INCR"), []byte("a")},
		{[]byte("GET"), []byte("nope")},
		{[]byte("LPOP"), []byte("a")},
	})
	want := "+OK\r\n:2\r\n$-1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
	if err != nil || string(raw) != want {
		t.Fatalf("Pipeline = %q, %v; want %q", raw, err, want)
	}
	// A blocking pop longer than the client's timeout succeeds with DoWait.
	short, err := client.Dial(s.Addr().String(), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	go func() {
		time.Sleep(800 * time.Millisecond)
		c.Do([]byte("RPUSH"), []byte("q"), []byte("late"))
	}()
	raw, err = short.DoWait(3*time.Second, []byte("BLPOP"), []byte("q"), []byte("3"))
	if err != nil || string(raw) != "*2\r\n$1\r\nq\r\n$4\r\nlate\r\n" {
		t.Fatalf("DoWait(BLPOP) = %q, %v", raw, err)
	}
}

func TestClientMGet(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	do(t, c, "MSET", "a", "1", "e", "")
	vals, err := c.MGet([][]byte{[]byte("a"), []byte("nope"), []byte("e")})
	if err != nil || len(vals) != 3 || string(vals[0]) != "1" || vals[1] != nil || vals[2] == nil || len(vals[2]) != 0 {
		t.Fatalf("MGet = %q, %v; want [1 <nil> \"\"]", vals, err)
	}
}

// TestBlockingPopTimeouts: BLPOP, BRPOP and BLMOVE take their timeout as
// Redis does.
// NaN and infinities are refused; a positive timeout too small to see, which
// once blocked forever, waits one millisecond; 0 (and what rounds up to 0)
// waits forever. Every read here has a deadline, so a wait that does not
// end fails the test instead of hanging it.
func TestBlockingPopTimeouts(t *testing.T) {
	s := start(t, tcpConfig())
	for _, cmd := range []string{"BLPOP", "BRPOP", "BLMOVE"} {
		// The command on key with timeout, and its reply once the wait
		// times out.
		command := func(key, timeout string) []byte {
			if cmd == "BLMOVE" {
				return resp.AppendCommand(nil, []byte(cmd), []byte(key), []byte("dst"), []byte("LEFT"), []byte("RIGHT"), []byte(timeout))
			}
			return resp.AppendCommand(nil, []byte(cmd), []byte(key), []byte(timeout))
		}
		null, served := "*-1", "*2"
		if cmd == "BLMOVE" {
			null, served = "$-1", "$1"
		}
		for _, tc := range []struct{ timeout, want string }{
			{"nan", "-ERR timeout is not a float or out of range"},
			{"NaN", "-ERR timeout is not a float or out of range"},
			{"-nan", "-ERR timeout is not a float or out of range"},
			{"1_0", "-ERR timeout is not a float or out of range"},
			{" 1", "-ERR timeout is not a float or out of range"},
			{"", "-ERR timeout is not a float or out of range"},
			{"inf", "-ERR timeout is out of range"},
			{"+Infinity", "-ERR timeout is out of range"},
			{"1e400", "-ERR timeout is out of range"},
			{"1e12", "-ERR timeout is out of range"},
			{"-inf", "-ERR timeout is negative"},
			{"-1", "-ERR timeout is negative"},
			{"-0.0011", "-ERR timeout is negative"},
			{"1e-10", null},
			{"1e-400", null},
			{"0.0000001", null},
			{"0.001", null},
			{"0x1p-10", null},
		} {
			nc, r := rawConn(t, s)
			nc.SetDeadline(time.Now().Add(2 * time.Second))
			nc.Write(command("empty", tc.timeout))
			line, err := r.ReadString('\n')
			if got := strings.TrimSuffix(line, "\r\n"); err != nil || got != tc.want {
				t.Errorf("%s empty %q: %q, %v; want %q", cmd, tc.timeout, got, err, tc.want)
			}
			nc.Close()
		}
		// A negative timeout that rounds up to 0 ms waits forever, as in
		// Redis: still blocked after a while, served by a push.
		for _, timeout := range []string{"0", "-0", "-1e-10"} {
			nc, r := rawConn(t, s)
			nc.Write(command("q"+timeout, timeout))
			nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if line, err := r.ReadString('\n'); err == nil {
				t.Fatalf("%s timeout %q returned %q; want a wait", cmd, timeout, line)
			}
			nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			do(t, dial(t, s), "RPUSH", "q"+timeout, "v")
			if line, err := r.ReadString('\n'); err != nil || line != served+"\r\n" {
				t.Fatalf("%s timeout %q after a push: %q, %v", cmd, timeout, line, err)
			}
			nc.Close()
		}
	}
}

// TestCheckPassword: only the exact password passes, whatever its length.
// The comparison runs over SHA-256 digests, so its time does not depend on
// the lengths (a timing test would be flaky on a shared machine; this one
// pins the behaviour the digest comparison must keep).
func TestCheckPassword(t *testing.T) {
	s := &Server{cfg: Config{Password: "s3cret"}}
	for _, tc := range []struct {
		user, pass string
		ok         bool
	}{
		{"default", "s3cret", true},
		{"default", "s3cre", false},
		{"default", "s3cret!", false},
		{"default", "s3cret\x00", false},
		{"default", "", false},
		{"default", strings.Repeat("s3cret", 1000), false},
		{"Default", "s3cret", false},
		{"admin", "s3cret", false},
	} {
		if got := s.checkPassword([]byte(tc.user), []byte(tc.pass)); got != tc.ok {
			t.Errorf("checkPassword(%q, %q) = %v; want %v", tc.user, tc.pass, got, tc.ok)
		}
	}
}
