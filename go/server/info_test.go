package server

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/client"
)

// info runs INFO with the given sections and returns its fields, and the
// section headers under "#".
func info(t *testing.T, c *client.Client, sections ...string) map[string]string {
	t.Helper()
	raw := do(t, c, append([]string{"INFO"}, sections...)...)
	if !strings.HasPrefix(raw, "$") {
		t.Fatalf("INFO %q = %q", sections, raw)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(raw[strings.Index(raw, "\r\n")+2:], "\r\n") {
		if name, ok := strings.CutPrefix(line, "# "); ok {
			fields["#"] += name + " "
		} else if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = v
		}
	}
	return fields
}

// INFO has the fields that clients and test suites read: redis-py's test
// session reads arch_bits and cluster_enabled before its first test.
func TestInfoHasWhatClientsRead(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	f := info(t, c)
	for _, k := range []string{"arch_bits", "cluster_enabled", "run_id", "used_cpu_sys", "used_cpu_user",
		"used_cpu_sys_children", "used_cpu_user_children", "blocked_clients", "total_error_replies", "role"} {
		if _, ok := f[k]; !ok {
			t.Errorf("INFO lacks %s", k)
		}
	}
	if f["arch_bits"] != "64" && f["arch_bits"] != "32" || f["cluster_enabled"] != "0" || len(f["run_id"]) != 40 {
		t.Errorf("arch_bits %q, cluster_enabled %q, run_id %q", f["arch_bits"], f["cluster_enabled"], f["run_id"])
	}
	if f["tcp_port"] != fmt.Sprint(s.Addr().(*net.TCPAddr).Port) {
		t.Errorf("tcp_port %q; server is on %s", f["tcp_port"], s.Addr())
	}
	// As in Redis: commandstats only when asked for, or with "all".
	if strings.Contains(f["#"], "Commandstats") || !strings.Contains(f["#"], "CPU") || !strings.Contains(f["#"], "Errorstats") {
		t.Errorf("INFO sections: %s", f["#"])
	}
	if all := info(t, c, "all"); !strings.Contains(all["#"], "Commandstats") {
		t.Errorf("INFO all sections: %s", all["#"])
	}
	if cpu := info(t, c, "cpu"); cpu["#"] != "CPU " {
		t.Errorf("INFO cpu sections: %s", cpu["#"])
	}
}

// Each command's calls, rejections (arity, NOAUTH) and failed calls (an
// error reply) are counted, and each error reply by its code.
func TestInfoCommandAndErrorStats(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	for _, args := range [][]string{
		{"SET", "k", "v"}, {"GET", "k"}, {"get", "missing"}, {"GET"}, // one rejected
		{"RPUSH", "q", "x"}, {"GET", "q"}, // one failed: WRONGTYPE
		{"NOSUCHCOMMAND"}, {"INCR", "k"}, // ERR twice
	} {
		do(t, c, args...)
	}
	f := info(t, c, "commandstats", "errorstats", "stats")
	for _, tc := range []struct{ field, key, want string }{
		{"cmdstat_get", "calls", "3"},
		{"cmdstat_get", "rejected_calls", "1"},
		{"cmdstat_get", "failed_calls", "1"},
		{"cmdstat_set", "calls", "1"},
		{"cmdstat_set", "failed_calls", "0"},
		{"cmdstat_incr", "failed_calls", "1"},
		{"errorstat_ERR", "count", "3"}, // unknown command, arity, INCR
		{"errorstat_WRONGTYPE", "count", "1"},
		{"total_error_replies", "", "4"},
		{"total_commands_processed", "", "6"}, // the GETs and SET that ran, RPUSH, INCR
	} {
		v := f[tc.field]
		if tc.key != "" {
			v = fieldOf(v, tc.key)
		}
		if v != tc.want {
			t.Errorf("%s %s = %q; want %s (%q)", tc.field, tc.key, v, tc.want, f[tc.field])
		}
	}
	if !strings.Contains(f["cmdstat_get"], ",usec=") || !strings.Contains(f["cmdstat_get"], ",usec_per_call=") {
		t.Errorf("cmdstat_get = %q", f["cmdstat_get"])
	}
	if _, ok := f["cmdstat_nosuchcommand"]; ok {
		t.Error("an unknown command has commandstats")
	}
}

// fieldOf returns the value of name in "a=1,b=2".
func fieldOf(list, name string) string {
	for _, kv := range strings.Split(list, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// blocked_clients counts the clients waiting in BLPOP and BRPOP; the Redis
// test suite waits on it before it pushes.
func TestInfoBlockedClients(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	popped := make(chan string, 2)
	for i := 0; i < 2; i++ {
		w := dial(t, s)
		go func() {
			raw, err := w.Do([]byte("BLPOP"), []byte("jobs"), []byte("10"))
			popped <- fmt.Sprint(string(raw), err)
		}()
	}
	waitForInfo(t, c, "blocked_clients", "2")
	do(t, c, "RPUSH", "jobs", "a")
	<-popped
	waitForInfo(t, c, "blocked_clients", "1")
	do(t, c, "RPUSH", "jobs", "b")
	<-popped
	if got := info(t, c)["blocked_clients"]; got != "0" {
		t.Fatalf("blocked_clients = %s after both pops were served", got)
	}
}

// waitForInfo polls INFO for up to 5 s until field has the value want.
func waitForInfo(t *testing.T, c *client.Client, field, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got = info(t, c)[field]; got == want {
			return
		}
	}
	t.Fatalf("%s = %s; want %s", field, got, want)
}

// CONFIG RESETSTAT zeroes what INFO counts, as Redis does.
func TestConfigResetStat(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	do(t, c, "SET", "k", "v")
	do(t, c, "GET", "k")
	do(t, c, "GET", "missing")
	do(t, c, "NOSUCHCOMMAND")
	if got := do(t, c, "CONFIG", "RESETSTAT"); got != "+OK\r\n" {
		t.Fatalf("CONFIG RESETSTAT = %q", got)
	}
	f := info(t, c, "everything")
	for k, want := range map[string]string{
		"keyspace_hits": "0", "keyspace_misses": "0", "total_error_replies": "0",
		"total_connections_received": "0", "rejected_connections": "0",
		"total_commands_processed": "1", // the CONFIG RESETSTAT itself, as in Redis
		"cmdstat_get":              "", "errorstat_ERR": "",
		"db0": "keys=1,expires=0,avg_ttl=0", // the data stays
	} {
		if f[k] != want {
			t.Errorf("after RESETSTAT %s = %q; want %q", k, f[k], want)
		}
	}
	// The new client's reply shows the server accepted it: a dial alone
	// returns before the acceptor has counted the connection.
	do(t, dial(t, s), "PING")
	if got := info(t, c)["total_connections_received"]; got != "1" {
		t.Errorf("total_connections_received = %s after one more client; want 1", got)
	}
}

// CONFIG GET matches glob patterns over the parameters and reports true
// values; CONFIG SET changes the memory bound and policy, and refuses the
// rest with a clear error and no change.
func TestConfigGetAndSet(t *testing.T) {
	cfg := tcpConfig()
	cfg.Password = "pw"
	s := start(t, cfg)
	c := dial(t, s)
	do(t, c, "AUTH", "pw")
	port := fmt.Sprint(s.Addr().(*net.TCPAddr).Port)
	config := func(args ...string) string { return do(t, c, append([]string{"CONFIG"}, args...)...) }
	bulks := func(vals ...string) string {
		out := fmt.Sprintf("*%d\r\n", len(vals))
		for _, v := range vals {
			out += fmt.Sprintf("$%d\r\n%s\r\n", len(v), v)
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"GET", "port"}, bulks("port", port)},
		{[]string{"GET", "bind", "unixsocket"}, bulks("bind", "127.0.0.1", "unixsocket", "")},
		{[]string{"GET", "requirepass"}, bulks("requirepass", "pw")},
		{[]string{"GET", "maxmemory*"}, bulks("maxmemory", "0", "maxmemory-policy", "noeviction")},
		{[]string{"GET", "MAXCLIENTS", "max*"}, bulks("maxclients", "10000", "maxmemory", "0", "maxmemory-policy", "noeviction")},
		{[]string{"GET", "timeout", "databases", "protected-mode"}, bulks("databases", "1", "protected-mode", "yes", "timeout", "0")},
		{[]string{"GET", "nosuch*"}, "*0\r\n"},
		{[]string{"SET", "maxmemory", "1mb"}, "+OK\r\n"},
		{[]string{"GET", "maxmemory*"}, bulks("maxmemory", "1048576", "maxmemory-policy", "allkeys-sieve")},
		{[]string{"SET", "maxmemory-policy", "noeviction"}, "+OK\r\n"},
		{[]string{"GET", "maxmemory-policy"}, bulks("maxmemory-policy", "noeviction")},
		// Nothing changes if one of the values is refused.
		{[]string{"SET", "maxmemory", "2mb", "maxmemory-policy", "allkeys-lru"},
			"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - tiny-mp-cache's policies are allkeys-sieve and noeviction\r\n"},
		{[]string{"SET", "maxmemory", "lots"},
			"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - \"lots\" is not a size such as 536870912, \"512MB\" or \"2GB\"\r\n"},
		{[]string{"GET", "maxmemory"}, bulks("maxmemory", "1048576")},
		{[]string{"SET", "port", "1"}, "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config\r\n"},
		{[]string{"SET", "nosuch", "1"}, "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"},
		{[]string{"SET", "maxmemory"}, "-ERR unknown subcommand or wrong number of arguments for 'config|set'\r\n"},
	} {
		if got := config(tc.args...); got != tc.want {
			t.Errorf("CONFIG %q = %q; want %q", tc.args, got, tc.want)
		}
	}
	if st := s.store.Stats(); st.MaxMemory != 1<<20 {
		t.Errorf("the store's bound is %d; want 1 MiB", st.MaxMemory)
	}
}

// CONFIG SET maxmemory on a server started without a bound makes it evict
// down to the new bound at once, and on every write after.
func TestConfigSetMaxMemoryEvicts(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	val := strings.Repeat("x", 1000)
	for i := 0; i < 500; i++ {
		do(t, c, "SET", fmt.Sprint("k", i), val)
	}
	if got := do(t, c, "CONFIG", "SET", "maxmemory", "100kb"); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET maxmemory = %q", got)
	}
	if st := s.store.Stats(); st.UsedMemory > 100<<10 || st.Evictions == 0 || st.Keys == 0 {
		t.Fatalf("after lowering the bound: used %d, %d keys, %d evictions", st.UsedMemory, st.Keys, st.Evictions)
	}
	for i := 500; i < 1000; i++ {
		if got := do(t, c, "SET", fmt.Sprint("k", i), val); got != "+OK\r\n" {
			t.Fatalf("SET under the new bound = %q", got)
		}
	}
	if st := s.store.Stats(); st.UsedMemory > 100<<10 {
		t.Fatalf("used %d over the 100 KiB bound", st.UsedMemory)
	}
	do(t, c, "CONFIG", "SET", "maxmemory", "0")
	for i := 0; i < 500; i++ {
		do(t, c, "SET", fmt.Sprint("u", i), val)
	}
	if st := s.store.Stats(); st.Keys < 500 {
		t.Fatalf("%d keys: still evicting after CONFIG SET maxmemory 0", st.Keys)
	}
}

// Commands queued by MULTI are counted when EXEC runs them, one by one, as
// in Redis; queuing them counts nothing.
func TestInfoCountsCommandsRunByExec(t *testing.T) {
	s := start(t, tcpConfig())
	c, other := dial(t, s), dial(t, s)
	do(t, c, "SET", "s", "text")
	do(t, c, "MULTI")
	do(t, c, "INCR", "n")
	do(t, c, "INCR", "s") // fails inside EXEC: not an integer
	if f := info(t, other, "commandstats"); f["cmdstat_incr"] != "" {
		t.Fatalf("queued INCRs already counted: %q", f["cmdstat_incr"])
	}
	if got := do(t, c, "EXEC"); !strings.HasPrefix(got, "*2\r\n:1\r\n-ERR") {
		t.Fatalf("EXEC = %q", got)
	}
	f := info(t, c, "commandstats", "errorstats")
	for _, tc := range []struct{ field, key, want string }{
		{"cmdstat_incr", "calls", "2"},
		{"cmdstat_incr", "failed_calls", "1"},
		{"cmdstat_exec", "calls", "1"},
		{"cmdstat_exec", "failed_calls", "0"},
		{"errorstat_ERR", "count", "1"},
	} {
		if v := fieldOf(f[tc.field], tc.key); v != tc.want {
			t.Errorf("%s %s = %q; want %s (%q)", tc.field, tc.key, v, tc.want, f[tc.field])
		}
	}
}
