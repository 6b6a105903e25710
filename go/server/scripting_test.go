package server

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/client"
)

// The error replies of scripts end in " script: <sha>" (Redis adds ", on
// @user_script:<line>."); the tables compare what comes before.
func withoutSHA(reply string) string {
	if i := strings.Index(reply, " script: "); i >= 0 && reply[0] == '-' {
		return reply[:i] + "\r\n"
	}
	return reply
}

// TestScriptReplies is a table of scripts and the replies redis-server
// 7.0.15 gives for them: Lua values to replies and replies to Lua values.
func TestScriptReplies(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	for _, tc := range []struct {
		args []string
		want string
	}{
		// Lua to reply: numbers are truncated to integers, arrays end at
		// the first nil, false is null, true is 1.
		{[]string{"EVAL", "return {1,2.9,'x',nil,4}", "0"}, "*3\r\n:1\r\n:2\r\n$1\r\nx\r\n"},
		{[]string{"EVAL", "return -3.99", "0"}, ":-3\r\n"},
		{[]string{"EVAL", "return false", "0"}, "$-1\r\n"},
		{[]string{"EVAL", "return true", "0"}, ":1\r\n"},
		{[]string{"EVAL", "return nil", "0"}, "$-1\r\n"},
		{[]string{"EVAL", "return {1,{2,{3}},redis.status_reply('S')}", "0"}, "*3\r\n:1\r\n*2\r\n:2\r\n*1\r\n:3\r\n+S\r\n"},
		{[]string{"EVAL", "return {ok='fine'}", "0"}, "+fine\r\n"},
		{[]string{"EVAL", "return {err='bad thing'}", "0"}, "-bad thing\r\n"},
		{[]string{"EVAL", "return redis.error_reply('my err')", "0"}, "-my err\r\n"},
		{[]string{"EVAL", "return redis.error_reply('-X my err')", "0"}, "-X my err\r\n"},
		{[]string{"EVAL", "return {double=3.5}", "0"}, "$3\r\n3.5\r\n"},
		{[]string{"EVAL", "redis.setresp(3) return false", "0"}, ":0\r\n"},
		// Reply to Lua: null is false, status and error are tables.
		{[]string{"EVAL", "return type(redis.call('get','nokey'))", "0"}, "$7\r\nboolean\r\n"},
		{[]string{"EVAL", "return redis.call('ping').ok", "0"}, "$4\r\nPONG\r\n"},
		{[]string{"EVAL", "return redis.pcall('incr','k','x').err", "0"}, "$58\r\nERR Wrong number of args calling Redis command from script\r\n"},
		{[]string{"EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "k", "v"}, "+OK\r\n"},
		{[]string{"EVAL", "return redis.pcall('incr', KEYS[1])", "1", "k"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"EVAL", "return redis.call('incr', KEYS[1])", "1", "k"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"EVAL", "return redis.call('incrby', 'n', 2.0)", "0"}, ":2\r\n"},
		{[]string{"EVAL", "return tostring(KEYS[1])..ARGV[2]", "1", "a", "b", "c"}, "$2\r\nac\r\n"},
		{[]string{"EVAL", "return redis.sha1hex('')", "0"}, "$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n"},
		{[]string{"EVAL", "return {string.format('%5.2f', 3.14159), math.floor(2.5), table.concat({1,2},',')}", "0"}, "*3\r\n$5\r\n 3.14\r\n:2\r\n$3\r\n1,2\r\n"},
		{[]string{"EVAL", "return redis.log(redis.LOG_WARNING, 'hi')", "0"}, "$-1\r\n"},
		// Errors.
		{[]string{"EVAL", "error('boom')", "0"}, "-ERR user_script:1: boom\r\n"},
		{[]string{"EVAL", "error({err='boom2'})", "0"}, "-boom2\r\n"},
		{[]string{"EVAL", "return redis.call('nosuch')", "0"}, "-ERR Unknown Redis command called from script\r\n"},
		{[]string{"EVAL", "return redis.call('incr','k','x')", "0"}, "-ERR Wrong number of args calling Redis command from script\r\n"},
		{[]string{"EVAL", "return redis.call('blpop','l',0)", "0"}, "-ERR This Redis command is not allowed from script\r\n"},
		{[]string{"EVAL", "return redis.call('eval','return 1', 0)", "0"}, "-ERR This Redis command is not allowed from script\r\n"},
		{[]string{"EVAL", "return redis.call('multi')", "0"}, "-ERR This Redis command is not allowed from script\r\n"},
		{[]string{"EVAL_RO", "return redis.call('set', 'a', 'b')", "0"}, "-ERR Write commands are not allowed from read-only scripts.\r\n"},
		{[]string{"EVAL", "return 1", "-1"}, "-ERR Number of keys can't be negative\r\n"},
		{[]string{"EVAL", "return 1", "3", "a"}, "-ERR Number of keys can't be greater than number of args\r\n"},
		{[]string{"EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"}, "-NOSCRIPT No matching script. Please use EVAL.\r\n"},
		// The script cache.
		{[]string{"SCRIPT", "LOAD", "return 1"}, "$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n"},
		{[]string{"SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "ffffffffffffffffffffffffffffffffffffffff"}, "*2\r\n:1\r\n:0\r\n"},
		{[]string{"EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"}, ":1\r\n"},
		{[]string{"SCRIPT", "FLUSH"}, "+OK\r\n"},
		{[]string{"EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"}, "-NOSCRIPT No matching script. Please use EVAL.\r\n"},
		{[]string{"EVAL", "return 1", "0"}, ":1\r\n"},
		{[]string{"SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"}, "*1\r\n:1\r\n"}, // EVAL caches too
		{[]string{"SCRIPT", "KILL"}, "-NOTBUSY No scripts in execution right now.\r\n"},
		{[]string{"CONFIG", "GET", "busy-reply-threshold"}, "*2\r\n$20\r\nbusy-reply-threshold\r\n$4\r\n5000\r\n"},
	} {
		if got := withoutSHA(do(t, c, tc.args...)); got != tc.want {
			t.Errorf("%q = %q; want %q", tc.args, got, tc.want)
		}
	}
}

// TestScriptSandbox: a script reaches no files, processes or loaders, and
// leaves nothing behind for the next script.
func TestScriptSandbox(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	for _, name := range []string{"os", "io", "debug", "package", "require", "module", "dofile", "loadfile",
		"load", "loadstring", "setfenv", "getfenv", "print", "collectgarbage", "newproxy", "coroutine", "channel"} {
		want := "-ERR user_script:1: Script attempted to access nonexistent global variable '" + name + "'\r\n"
		if got := withoutSHA(do(t, c, "EVAL", "return "+name, "0")); got != want {
			t.Errorf("%s: %q; want %q", name, got, want)
		}
	}
	for _, tc := range []struct{ script, want string }{
		{"x = 1", "-ERR user_script:1: Attempt to modify a readonly table\r\n"},
		{"function f() end", "-ERR user_script:1: Attempt to modify a readonly table\r\n"},
		{"return string.dump", "$-1\r\n"},
		{"return setmetatable(_G, nil)", "-ERR user_script:1: cannot change a protected metatable\r\n"},
		{"return string.rep('x', 1e12)", "-ERR user_script:1: not enough memory\r\n"},
		{"return string.format('%999999999d', 1)", "-ERR user_script:1: invalid format (width or precision too long)\r\n"},
		{"return unpack({}, 1, 1e8)", "-ERR user_script:1: registry overflow\r\n"},
		{"local function f() return f() + 1 end return f()", "-ERR lua callstack overflow\r\n"},
		{"local t = {} t[1] = t return t", "-ERR reached lua stack limit\r\n"},
		// What one script leaves is not seen by the next.
		{"rawset(_G, 'left', 1) KEYS[1] = 'changed' return 1", ":1\r\n"},
		{"return rawget(_G, 'left')", "$-1\r\n"},
		{"string.rep = nil math.floor = nil getmetatable('').__index = {} setmetatable(table, {__index = function() return 1 end}) redis.call = nil return 1", ":1\r\n"},
		{"return {type(string.rep), math.floor(2.5), ('x'):upper(), tostring(table.nosuch), type(redis.call)}", "*5\r\n$8\r\nfunction\r\n:2\r\n$1\r\nX\r\n$3\r\nnil\r\n$8\r\nfunction\r\n"},
		{"return KEYS[1]", "$-1\r\n"},
		{"return math.random(1000000)", ":" + do(t, c, "EVAL", "return math.random(1000000)", "0")[1:]}, // seeded alike each time
	} {
		if got := withoutSHA(do(t, c, "EVAL", tc.script, "0")); got != tc.want {
			t.Errorf("%q = %q; want %q", tc.script, got, tc.want)
		}
	}
	if got := do(t, c, "PING"); got != "+PONG\r\n" {
		t.Fatalf("PING after the escapes = %q", got)
	}
}

// scriptClient dials s for a test's goroutine, which may not call t.Fatal.
func scriptClient(t *testing.T, s *Server) *client.Client {
	c := dial(t, s)
	do(t, c, "PING") // served: its loop is chosen
	return c
}

func doErr(c *client.Client, args ...string) (string, error) {
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	raw, err := c.Do(bs...)
	return string(raw), err
}

// TestScriptIsAtomicAcrossLoops: no other client's command, on any loop,
// comes between a script's commands.
func TestScriptIsAtomicAcrossLoops(t *testing.T) {
	s := start(t, tcpConfig())
	a, b := scriptClient(t, s), scriptClient(t, s) // on different loops
	const rounds, incrs, others = 20, 100, 2000
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range others {
			if _, err := doErr(b, "INCR", "n"); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		script := "local r = {} for i = 1, " + strconv.Itoa(incrs) + " do r[i] = redis.call('incr', KEYS[1]) end return r"
		for range rounds {
			got, err := doErr(a, "EVAL", script, "1", "n")
			if err != nil {
				errs <- err
				return
			}
			v := strings.Split(strings.TrimSpace(got), "\r\n")[1:] // *100, then :n lines
			first, _ := strconv.Atoi(v[0][1:])
			for j, x := range v {
				if x != ":"+strconv.Itoa(first+j) {
					errs <- fmt.Errorf("the script's INCRs gave %v: another client's came between them", v)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := do(t, a, "GET", "n"); got != "$4\r\n4000\r\n" {
		t.Fatalf("n = %q; want 4000", got)
	}
}

// TestScriptServesBlockedPopsAfterwards: a pop blocked on a list the script
// pushes to gets its value once the script is done, not in its middle.
func TestScriptServesBlockedPopsAfterwards(t *testing.T) {
	s := start(t, tcpConfig())
	a, b := scriptClient(t, s), scriptClient(t, s)
	popped := make(chan string, 1)
	go func() {
		got, err := doErr(b, "BLPOP", "q", "10")
		if err != nil {
			got = err.Error()
		}
		popped <- got
	}()
	waitFor(t, "the pop to block", func() bool { return s.blocked.Load() == 1 })
	got := do(t, a, "EVAL", "redis.call('rpush', 'q', 'a') redis.call('rpush', 'q', 'b') return redis.call('lrange', 'q', 0, -1)", "0")
	if got != "*2\r\n$1\r\na\r\n$1\r\nb\r\n" {
		t.Fatalf("the script saw %q: the pop took a value in its middle", got)
	}
	if got := <-popped; got != "*2\r\n$1\r\nq\r\n$1\r\na\r\n" {
		t.Fatalf("BLPOP = %q", got)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestBusyScript: past busy-reply-threshold, other clients get -BUSY, even
// one whose command was already waiting; SCRIPT KILL stops a script that
// has not written, and not one that has.
func TestBusyScript(t *testing.T) {
	cfg := tcpConfig()
	cfg.BusyReplyThreshold = 200
	s := start(t, cfg)
	a, b := scriptClient(t, s), scriptClient(t, s) // on different loops

	replied := make(chan string, 1)
	eval := func(script string) {
		go func() {
			got, err := doErr(a, "EVAL", script, "0")
			if err != nil {
				got = err.Error()
			}
			replied <- withoutSHA(got)
		}()
		waitFor(t, "the script to start", func() bool { return s.script.Load() != nil })
	}

	eval("local i = 0 while true do i = i + 1 end")
	// Sent before the threshold: waits, then gets -BUSY while the script runs.
	if got := do(t, b, "GET", "x"); got != "-"+errBusy+"\r\n" {
		t.Fatalf("GET while busy = %q", got)
	}
	if got := do(t, b, "SET", "x", "1"); got != "-"+errBusy+"\r\n" {
		t.Fatalf("SET while busy = %q", got)
	}
	select {
	case got := <-replied:
		t.Fatalf("the script ended by itself: %q", got)
	default:
	}
	if got := do(t, dial(t, s), "SCRIPT", "KILL"); got != "+OK\r\n" { // a new client
		t.Fatalf("SCRIPT KILL = %q", got)
	}
	if got := <-replied; got != "-ERR Script killed by user with SCRIPT KILL...\r\n" {
		t.Fatalf("the killed script's reply = %q", got)
	}
	if got := do(t, b, "PING"); got != "+PONG\r\n" {
		t.Fatalf("PING after the kill = %q", got)
	}

	// One that wrote runs on (for 1.5 s by the server's clock) and ends.
	eval(`redis.call('set', 'w', '1')
		local function now() local t = redis.call('time') return t[1] * 1000000 + t[2] end
		local start = now() while now() - start < 1500000 do end
		return 'done'`)
	waitFor(t, "the script to be busy", func() bool { r := s.script.Load(); return r == nil || r.busy.Load() })
	if got := do(t, b, "SCRIPT", "KILL"); !strings.HasPrefix(got, "-UNKILLABLE Sorry the script already executed write commands") {
		t.Fatalf("SCRIPT KILL of a script that wrote = %q", got)
	}
	if got := <-replied; got != "$4\r\ndone\r\n" {
		t.Fatalf("the unkillable script's reply = %q", got)
	}
	if got := do(t, b, "GET", "w"); got != "$1\r\n1\r\n" {
		t.Fatalf("GET w = %q", got)
	}
}

// TestScriptMemoryLimit: a script that builds ever more is stopped with an
// error once it has grown the heap by script_max_memory, and the server
// goes on serving.
func TestScriptMemoryLimit(t *testing.T) {
	cfg := tcpConfig()
	cfg.ScriptMaxMemory = 32 << 20
	s := start(t, cfg)
	c := dial(t, s)
	got := withoutSHA(do(t, c, "EVAL", "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end return #t", "0"))
	if got != "-ERR Script used more than script_max_memory (33554432 bytes)\r\n" {
		t.Fatalf("EVAL = %q", got)
	}
	if got := do(t, c, "PING"); got != "+PONG\r\n" {
		t.Fatalf("PING = %q", got)
	}
}
