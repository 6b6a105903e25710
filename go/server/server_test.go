package server

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/client"
	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// start runs a server for the test and stops it at cleanup.
func start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen(%+v): %v", cfg, err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return s
}

// clientAddr is the address string a client dials for s.
func clientAddr(s *Server) string {
	if s.cfg.Network == "unix" {
		return "unix://" + s.cfg.Addr
	}
	return s.Addr().String()
}

// The test servers run two loops on any machine, so that clients are
// served by more than one (see loops_test.go).
func tcpConfig() Config { return Config{Network: "tcp", Addr: "127.0.0.1:0", Loops: 2} }

func unixConfig(t testing.TB) Config {
	needUnixSockets(t)
	return Config{Network: "unix", Addr: filepath.Join(t.TempDir(), "c.sock"), Loops: 2}
}

// transports is a config for each transport this platform has.
func transports(t testing.TB) []Config {
	if err := unixSocketsMissing(); err != nil {
		t.Logf("TCP only: %v", err)
		return []Config{tcpConfig()}
	}
	return []Config{tcpConfig(), unixConfig(t)}
}

// needUnixSockets skips a test on a Windows without AF_UNIX: wine 8.0, where
// .ci/platforms runs these tests, has none (Windows 10 1803 and later have
// it). Elsewhere a unix socket that cannot be made is the test's failure.
func needUnixSockets(t testing.TB) {
	t.Helper()
	if err := unixSocketsMissing(); err != nil {
		t.Skipf("this Windows has no unix sockets: %v", err)
	}
}

func unixSocketsMissing() error {
	if runtime.GOOS != "windows" {
		return nil
	}
	unixOnce.Do(func() {
		ln, err := net.Listen("unix", filepath.Join(os.TempDir(), fmt.Sprintf("tmc-probe-%d.sock", os.Getpid())))
		if err == nil {
			ln.Close()
		}
		unixMissing = err
	})
	return unixMissing
}

var (
	unixOnce    sync.Once
	unixMissing error
)

func TestServerTCP(t *testing.T)  { testServer(t, tcpConfig()) }
func TestServerUnix(t *testing.T) { testServer(t, unixConfig(t)) }

// testServer is the behaviour both transports must share.
func testServer(t *testing.T, cfg Config) {
	s := start(t, cfg)
	c, err := client.Dial(clientAddr(s), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := c.Get([]byte("missing")); err != nil || ok {
		t.Fatalf("Get(missing) = ok %v, err %v", ok, err)
	}
	must(c.Set([]byte("foo"), []byte("bar")))
	must(c.Set([]byte("empty"), nil))
	big := bytes.Repeat([]byte{0, 1, 2, '\r', '\n'}, 4<<20) // 20 MiB
	must(c.Set([]byte("big"), big))
	must(c.Set([]byte("ключ"), []byte("значение")))

	for k, want := range map[string][]byte{"foo": []byte("bar"), "empty": {}, "big": big, "ключ": []byte("значение")} {
		v, ok, err := c.Get([]byte(k))
		if err != nil || !ok || !bytes.Equal(v, want) {
			t.Fatalf("Get(%q): ok %v err %v, %d bytes; want %d bytes", k, ok, err, len(v), len(want))
		}
	}
	keys, err := c.Keys([]byte("*"))
	must(err)
	if want := []string{"big", "empty", "foo", "ключ"}; !reflect.DeepEqual(strs(keys), want) {
		t.Fatalf("Keys(*) = %q; want %q", strs(keys), want)
	}
	if n, err := c.DBSize(); err != nil || n != 4 {
		t.Fatalf("DBSize = %d, %v; want 4", n, err)
	}
	if v, ok, err := c.GetDel([]byte("foo")); err != nil || !ok || string(v) != "bar" {
		t.Fatalf("GetDel = %q %v %v", v, ok, err)
	}
	if _, ok, err := c.GetDel([]byte("foo")); err != nil || ok {
		t.Fatalf("second GetDel: ok %v err %v", ok, err)
	}
	if n, err := c.Del([]byte("empty")); err != nil || n != 1 {
		t.Fatalf("Del = %d, %v; want 1", n, err)
	}
	if n, err := c.Del([]byte("empty")); err != nil || n != 0 {
		t.Fatalf("Del again = %d, %v; want 0", n, err)
	}
	for i, v := range []string{"b", "a", "c"} {
		if n, err := c.Push([]byte("q"), []byte(v), v == "a"); err != nil || n != int64(i+1) {
			t.Fatalf("Push(%s) = %d, %v; want %d", v, n, err, i+1)
		}
	}
	if raw, err := c.Do([]byte("LRANGE"), []byte("q"), []byte("0"), []byte("-1")); err != nil || string(raw) != "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n" {
		t.Fatalf("LRANGE after pushes = %q, %v", raw, err)
	}
	if _, err := c.Push([]byte("big"), []byte("x"), false); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Push onto a string = %v; want WRONGTYPE", err)
	}
	raw, err := c.Do([]byte("NOSUCH"), []byte("x"))
	if err != nil || string(raw) != "-ERR unknown command 'NOSUCH'\r\n" {
		t.Fatalf("Do(NOSUCH) = %q, %v", raw, err)
	}
	raw, err = c.Do([]byte("get"))
	if err != nil || string(raw) != "-ERR wrong number of arguments for 'get' command\r\n" {
		t.Fatalf("Do(get) = %q, %v", raw, err)
	}
	// The connection is still good after error replies.
	if raw, err := c.Do([]byte("PING")); err != nil || string(raw) != "+PONG\r\n" {
		t.Fatalf("PING = %q, %v", raw, err)
	}
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// rawConn dials s and returns the connection and a reader of its replies.
func rawConn(t *testing.T, s *Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial(s.Addr().Network(), s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc, bufio.NewReader(nc)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	return strings.TrimSuffix(line, "\r\n")
}

func TestProtocolErrorClosesOnlyThatClient(t *testing.T) {
	s := start(t, tcpConfig())
	good, goodR := rawConn(t, s)
	for _, garbage := range []string{
		"*1\r\n$99999999999\r\n",
		"*abc\r\n",
		"*1\r\n:5\r\n",
		"*2\r\n$3\r\nGET\r\n$1\r\nkXX",
	} {
		bad, badR := rawConn(t, s)
		bad.Write([]byte(garbage))
		line := readLine(t, badR)
		if !strings.HasPrefix(line, "-ERR Protocol error") {
			t.Fatalf("%q: reply %q; want a protocol error", garbage, line)
		}
		if _, err := badR.ReadByte(); err == nil {
			t.Fatalf("%q: connection still open after a protocol error", garbage)
		}
		good.Write([]byte("PING\r\n"))
		if line := readLine(t, goodR); line != "+PONG" {
			t.Fatalf("other client got %q after %q", line, garbage)
		}
	}
}

func TestPipelineRepliesInOrder(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	var req []byte
	for i := 0; i < 1000; i++ {
		req = resp.AppendCommand(req, []byte("SET"), []byte(fmt.Sprint("k", i)), []byte(fmt.Sprint(i)))
		req = resp.AppendCommand(req, []byte("GET"), []byte(fmt.Sprint("k", i)))
	}
	go nc.Write(req)
	for i := 0; i < 1000; i++ {
		if l := readLine(t, r); l != "+OK" {
			t.Fatalf("SET %d: %q", i, l)
		}
		readLine(t, r) // $len
		if l := readLine(t, r); l != fmt.Sprint(i) {
			t.Fatalf("GET %d: %q", i, l)
		}
	}
}

func TestAuth(t *testing.T) {
	cfg := tcpConfig()
	cfg.Password = "s3cret"
	s := start(t, cfg)
	nc, r := rawConn(t, s)
	nc.Write([]byte("GET k\r\n"))
	if l := readLine(t, r); l != "-NOAUTH Authentication required." {
		t.Fatalf("unauthenticated GET: %q", l)
	}
	nc.Write([]byte("AUTH wrong\r\n"))
	if l := readLine(t, r); !strings.HasPrefix(l, "-WRONGPASS") {
		t.Fatalf("wrong password: %q", l)
	}
	nc.Write([]byte("AUTH s3cret\r\nGET k\r\n"))
	if l := readLine(t, r); l != "+OK" {
		t.Fatalf("AUTH: %q", l)
	}
	if l := readLine(t, r); l != "$-1" {
		t.Fatalf("GET after AUTH: %q", l)
	}
	if _, err := client.Dial(s.Addr().String(), time.Second); err != nil {
		t.Fatalf("Dial without a password should connect (commands then fail with NOAUTH): %v", err)
	}
	c, err := client.Dial("redis://:s3cret@"+s.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set([]byte("a"), []byte("b")); err != nil {
		t.Fatalf("Set with password in the address: %v", err)
	}
	if _, err := client.Dial("redis://:nope@"+s.Addr().String(), time.Second); err == nil ||
		!strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("Dial with a wrong password: %v", err)
	}
}

// Before AUTH a client may send only small commands, as in Redis: a
// bigger declared length gets Redis's error at once and the client is
// disconnected, before the server buffers anything for it. After AUTH,
// pipelined in the same write, big commands work.
func TestUnauthenticatedClientsSendOnlySmallCommands(t *testing.T) {
	cfg := tcpConfig()
	cfg.Password = "s3cret"
	s := start(t, cfg)
	for _, tc := range []struct{ in, reply string }{
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n", "-ERR Protocol error: unauthenticated bulk length"},
		{"*1\r\n$16385\r\n", "-ERR Protocol error: unauthenticated bulk length"},
		{"*11\r\n", "-ERR Protocol error: unauthenticated multibulk length"},
	} {
		nc, r := rawConn(t, s)
		nc.Write([]byte(tc.in))
		if l := readLine(t, r); l != tc.reply {
			t.Fatalf("%q: got %q, want %q", tc.in, l, tc.reply)
		}
		if _, err := r.ReadByte(); err == nil {
			t.Fatalf("%q: still connected", tc.in)
		}
	}
	nc, r := rawConn(t, s)
	value := bytes.Repeat([]byte("v"), 1<<20)
	req := resp.AppendCommand(nil, []byte("AUTH"), []byte("s3cret"))
	req = resp.AppendCommand(req, []byte("SET"), []byte("k"), value)
	req = resp.AppendCommand(req, []byte("DBSIZE"))
	go nc.Write(req)
	for _, want := range []string{"+OK", "+OK", ":1"} {
		if l := readLine(t, r); l != want {
			t.Fatalf("AUTH then a 1 MiB SET: %q, want %q", l, want)
		}
	}
	// RESET makes the client unauthenticated again, limits and all.
	nc.Write([]byte("RESET\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20000\r\n"))
	for _, want := range []string{"+RESET", "-ERR Protocol error: unauthenticated bulk length"} {
		if l := readLine(t, r); l != want {
			t.Fatalf("RESET then a 20000-byte SET: %q, want %q", l, want)
		}
	}
}

func TestMaxClients(t *testing.T) {
	cfg := tcpConfig()
	cfg.MaxClients = 2
	s := start(t, cfg)
	a, ar := rawConn(t, s)
	b, br := rawConn(t, s)
	for _, x := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{a, ar}, {b, br}} {
		x.c.Write([]byte("PING\r\n"))
		if l := readLine(t, x.r); l != "+PONG" {
			t.Fatalf("client within the limit: %q", l)
		}
	}
	_, cr := rawConn(t, s)
	if l := readLine(t, cr); l != "-ERR max number of clients reached" {
		t.Fatalf("third client: %q", l)
	}
}

func TestProtectedMode(t *testing.T) {
	_, err := Listen(Config{Network: "tcp", Addr: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "without a password") {
		t.Fatalf("binding 0.0.0.0 without a password: %v", err)
	}
	for _, cfg := range []Config{
		{Network: "tcp", Addr: "0.0.0.0:0", Password: "x"},
		{Network: "tcp", Addr: "0.0.0.0:0", AllowRemote: true},
	} {
		s, err := Listen(cfg)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		go s.Serve()
		s.Close()
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Network: "udp", Addr: "x"},
		{Network: "tcp"},
		{Network: "unix", Addr: "/tmp/x", UnixMode: 0o1777},
		{Network: "tcp", Addr: "127.0.0.1:0", MaxBulk: -1},
		{Network: "tcp", Addr: "127.0.0.1:0", LogLevel: "loud"},
	} {
		if _, err := Listen(cfg); err == nil {
			t.Errorf("Listen(%+v) succeeded", cfg)
		}
	}
}

// staleSocket leaves a socket file at path that nobody listens on, as a
// killed server does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func TestUnixSocketFile(t *testing.T) {
	cfg := unixConfig(t)
	// A stale socket, as left by a killed server, is replaced.
	staleSocket(t, cfg.Addr)
	s, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	go s.Serve()
	fi, err := os.Stat(cfg.Addr)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	// A live server is not taken over.
	if _, err := Listen(cfg); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Fatalf("second Listen on a live socket: %v", err)
	}
	s.Close()
	if _, err := os.Stat(cfg.Addr); !os.IsNotExist(err) {
		t.Fatalf("socket file still there after Close: %v", err)
	}
}

func TestCloseFlushesAndDisconnects(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	nc.Write([]byte("SET k v\r\n"))
	if l := readLine(t, r); l != "+OK" {
		t.Fatalf("SET: %q", l)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("client still connected after Close")
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Fatal("still accepting after Close")
	}
}

// TestManyClients runs concurrent clients that each pop their share.
func TestConcurrentPopExactlyOnce(t *testing.T) {
	s := start(t, tcpConfig())
	c, err := client.Dial(s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := 0; i < n; i++ {
		c.Set([]byte(fmt.Sprint("job:", i)), []byte("x"))
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc, err := client.Dial(s.Addr().String(), 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer wc.Close()
			for i := 0; i < n; i++ {
				k := fmt.Sprint("job:", i)
				if _, ok, err := wc.GetDel([]byte(k)); err != nil {
					t.Error(err)
				} else if ok {
					mu.Lock()
					got[k]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("%d keys popped; want %d", len(got), n)
	}
	for k, times := range got {
		if times != 1 {
			t.Fatalf("%s popped %d times", k, times)
		}
	}
}

// FuzzDispatch sends arbitrary bytes as one client; the server must stay up
// and keep serving another client correctly.
func FuzzDispatch(f *testing.F) {
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"))
	f.Add([]byte("KEYS [\r\nKEYS \\\r\nDEL\r\nAUTH a b c\r\n"))
	f.Add([]byte("*2\r\n$4\r\nPING\r\n$1\r\nx\r\nQUIT\r\nPING\r\n"))
	cfg := tcpConfig()
	cfg.MaxBulk, cfg.MaxQuery = 1<<16, 1<<20
	s := start(f, cfg)
	probe, err := client.Dial(s.Addr().String(), 5*time.Second)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(2 * time.Second))
		nc.Write(in)
		nc.(*net.TCPConn).CloseWrite()
		var sink [4096]byte
		for {
			if _, err := nc.Read(sink[:]); err != nil {
				break
			}
		}
		nc.Close()
		if err := probe.Set([]byte("probe"), in); err != nil {
			t.Fatalf("server broken after %q: %v", in, err)
		}
		if v, ok, err := probe.Get([]byte("probe")); err != nil || !ok || !bytes.Equal(v, in) {
			t.Fatalf("server answers wrongly after %q: %q %v %v", in, v, ok, err)
		}
	})
}

// TestUnixSocketPathTakenByOtherFiles: Listen replaced whatever sat at the
// socket path, a regular file or an empty directory included. Only a stale
// socket is replaced now; anything else is an error that names it, and is
// left as it was.
func TestUnixSocketPathTakenByOtherFiles(t *testing.T) {
	needUnixSockets(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	emptyDir := filepath.Join(dir, "dir")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "stale.sock")
	staleSocket(t, stale)
	links := map[string]string{"link-to-file": file, "link-to-dir": emptyDir, "dangling": filepath.Join(dir, "none")}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"file", "is a regular file, not a socket"},
		{"dir", "is a directory, not a socket"},
		{"link-to-file", "is a symbolic link to a regular file, not a socket"},
		{"link-to-dir", "is a symbolic link to a directory, not a socket"},
		{"dangling", "is a dangling symbolic link, not a socket"},
	} {
		path := filepath.Join(dir, tc.name)
		before, _ := os.Lstat(path)
		s, err := Listen(Config{Network: "unix", Addr: path})
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), path+" "+tc.want) {
			t.Errorf("Listen on %s: %v; want an error saying it %s", tc.name, err, tc.want)
		}
		if after, err := os.Lstat(path); err != nil || after.Mode() != before.Mode() {
			t.Errorf("%s was changed: %v, %v", tc.name, after, err)
		}
	}
	if data, _ := os.ReadFile(file); string(data) != "data" {
		t.Errorf("the regular file now holds %q", data)
	}
	// A symbolic link to a stale socket is replaced by the new socket.
	link := filepath.Join(dir, "link-to-stale")
	if err := os.Symlink(stale, link); err != nil {
		t.Fatal(err)
	}
	s := start(t, Config{Network: "unix", Addr: link})
	c := dial(t, s)
	if got := do(t, c, "PING"); got != "+PONG\r\n" {
		t.Fatalf("PING over the replaced link: %q", got)
	}
}
