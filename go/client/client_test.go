package client

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A unix socket written the wrong way is told what to write instead.
func TestParseAddrSaysHowToWriteAUnixSocket(t *testing.T) {
	for in, want := range map[string]string{
		"unix:/tmp/x.sock": `write "unix:///tmp/x.sock"`,
		"/tmp/x.sock":      `missing port; for a unix socket write "unix:///tmp/x.sock"`,
		"unix:x.sock":      `"unix://" and then the absolute path`,
		"cache.sock":       `"unix://" and then the absolute path`,
	} {
		_, err := ParseAddr(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAddr(%q) = %v; want it to say %s", in, err, want)
		}
	}
	if a, err := ParseAddr("unix:5002"); err != nil || a.Address != "unix:5002" {
		t.Errorf(`ParseAddr("unix:5002") = %+v, %v; want the host "unix"`, a, err)
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = Dial(addr, 2*time.Second)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindConn {
		t.Fatalf("Dial to a closed port = %v; want a connection error", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("refusal took %v", time.Since(start))
	}
}

// TestTimeout talks to a listener that accepts and never answers.
func TestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c, err := Dial(ln.Addr().String(), 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, err = c.Get([]byte("k"))
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindTimeout {
		t.Fatalf("Get from a silent server = %v; want a timeout", err)
	}
}

// TestGetDelNotRetried checks that a connection lost mid-call is reported
// for GETDEL, not silently retried, and re-dialled on the next call.
func TestGetDelNotRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	requests := make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 256)
			n, _ := c.Read(buf)
			requests <- string(buf[:n])
			if strings.Contains(string(buf[:n]), "PING") {
				c.Write([]byte("+PONG\r\n"))
			}
			c.Close() // hang up after each request
		}
	}()
	c, err := Dial(ln.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.GetDel([]byte("k")); err == nil {
		t.Fatal("GetDel over a dropped connection succeeded")
	}
	if got := <-requests; !strings.Contains(got, "GETDEL") {
		t.Fatalf("server saw %q", got)
	}
	select {
	case r := <-requests:
		t.Fatalf("GETDEL was sent again: %q", r)
	case <-time.After(100 * time.Millisecond):
	}
	raw, err := c.Do([]byte("PING"))
	if err != nil || string(raw) != "+PONG\r\n" {
		t.Fatalf("next call after the drop = %q, %v; want a re-dialled PONG", raw, err)
	}
}

// GetIn reads the value into the caller's memory, and asks for none when
// the key is missing.
func TestGetInUsesCallerMemory(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 256)
		for _, reply := range []string{"$5\r\nhello\r\n", "$-1\r\n"} {
			if _, err := c.Read(buf); err != nil {
				return
			}
			c.Write([]byte(reply))
		}
	}()
	c, err := Dial(ln.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mine [64]byte
	var asked []int
	alloc := func(n int) []byte { asked = append(asked, n); return mine[:n] }
	v, ok, err := c.GetIn([]byte("k"), alloc)
	if err != nil || !ok || string(v) != "hello" || &v[0] != &mine[0] {
		t.Fatalf("GetIn = %q, %v, %v (in caller's memory: %v)", v, ok, err, err == nil && ok && &v[0] == &mine[0])
	}
	if _, ok, err := c.GetIn([]byte("missing"), alloc); err != nil || ok {
		t.Fatalf("GetIn(missing) = %v, %v; want not found", ok, err)
	}
	if len(asked) != 1 || asked[0] != 7 {
		t.Fatalf("alloc was asked for %v; want [7] (value and CRLF, nothing for a miss)", asked)
	}
}

// GetDeadlineIn and MGetDeadlines write their commands at once and read
// every reply, an error reply included, so the connection stays in step;
// a reply of the wrong kind is a protocol error.
func TestDeadlineReadsAreOneWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	replies := []string{
		"$5\r\nhello\r\n:1700000000000\r\n",
		"-WRONGTYPE not a string\r\n:-1\r\n",
		"$-1\r\n:-2\r\n",
		"*2\r\n$1\r\na\r\n$-1\r\n:-1\r\n:-2\r\n",
		"$5\r\nhello\r\n$1\r\nx\r\n", // PEXPIRETIME answered with a bulk string
	}
	requests := make(chan string, len(replies))
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for _, reply := range replies {
			n, err := c.Read(buf) // the whole request arrives in one read: it was one write
			if err != nil {
				return
			}
			requests <- string(buf[:n])
			c.Write([]byte(reply))
		}
	}()
	c, err := Dial(ln.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	v, ok, ms, err := c.GetDeadlineIn([]byte("k"), nil)
	if err != nil || !ok || string(v) != "hello" || ms != 1700000000000 {
		t.Fatalf("GetDeadlineIn = %q, %v, %d, %v", v, ok, ms, err)
	}
	if got, want := <-requests, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$11\r\nPEXPIRETIME\r\n$1\r\nk\r\n"; got != want {
		t.Fatalf("request %q; want %q", got, want)
	}
	_, _, _, err = c.GetDeadlineIn([]byte("k"), nil)
	wantKind(t, err, KindServer, "GetDeadlineIn of a list")
	<-requests
	if _, ok, ms, err := c.GetDeadlineIn([]byte("k"), nil); err != nil || ok || ms != -2 {
		t.Fatalf("GetDeadlineIn(missing) = %v, %d, %v; want -2, still in step", ok, ms, err)
	}
	<-requests
	vals, mss, err := c.MGetDeadlines([][]byte{[]byte("a"), []byte("b")})
	if err != nil || len(vals) != 2 || string(vals[0]) != "a" || vals[1] != nil || len(mss) != 2 || mss[0] != -1 || mss[1] != -2 {
		t.Fatalf("MGetDeadlines = %q, %v, %v", vals, mss, err)
	}
	if got := <-requests; strings.Count(got, "PEXPIRETIME") != 2 || !strings.HasPrefix(got, "*3\r\n$4\r\nMGET\r\n") {
		t.Fatalf("MGetDeadlines request %q", got)
	}
	_, _, _, err = c.GetDeadlineIn([]byte("k"), nil)
	wantKind(t, err, KindProto, "GetDeadlineIn with a bulk string for a deadline")
}

// TestDoRetry checks that DoRetry and PipelineRetry resend, once, what a
// stale connection lost when told to, and that Do and Pipeline do not.
func TestDoRetry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var staleNext atomic.Bool // the next connection hangs up at its first request, as one gone stale would
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			stale := staleNext.Swap(false)
			go func() {
				defer c.Close()
				buf := make([]byte, 256)
				for first := true; ; first = false {
					n, err := c.Read(buf)
					if err != nil || (first && stale) {
						return
					}
					c.Write([]byte(strings.Repeat("+PONG\r\n", strings.Count(string(buf[:n]), "PING"))))
				}
			}()
		}
	}()
	ping := [][]byte{[]byte("PING")}
	for _, tc := range []struct {
		name  string
		call  func(*Client) ([]byte, error)
		reply string // "" for the ConnectionError of a call not retried
	}{
		{"Do", func(c *Client) ([]byte, error) { return c.Do(ping...) }, ""},
		{"DoRetry(false)", func(c *Client) ([]byte, error) { return c.DoRetry(false, ping...) }, ""},
		{"DoRetry(true)", func(c *Client) ([]byte, error) { return c.DoRetry(true, ping...) }, "+PONG\r\n"},
		{"Pipeline", func(c *Client) ([]byte, error) { return c.Pipeline([][][]byte{ping, ping}) }, ""},
		{"PipelineRetry(true)", func(c *Client) ([]byte, error) { return c.PipelineRetry(true, [][][]byte{ping, ping}) }, "+PONG\r\n+PONG\r\n"},
	} {
		staleNext.Store(true)
		c, err := Dial(ln.Addr().String(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := tc.call(c)
		var e *Error
		if tc.reply == "" && !(errors.As(err, &e) && e.Kind == KindConn) {
			t.Errorf("%s on a stale connection = %q, %v; want a connection error, not a retry", tc.name, raw, err)
		}
		if tc.reply != "" && (err != nil || string(raw) != tc.reply) {
			t.Errorf("%s on a stale connection = %q, %v; want %q from the retry", tc.name, raw, err, tc.reply)
		}
		c.Close()
	}
}

// TestParseAddrTable checks ParseAddr against tests/addresses.json, the
// table that the Python parser passes too (tests/test_addresses.py).
func TestParseAddrTable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "tests", "addresses.json"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("tests/addresses.json is not in this checkout")
	}
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Cases []struct {
			Addr, Host, Path, Password, Error string
			Port, DB                          int
		}
	}
	if err := json.Unmarshal(data, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Cases) == 0 {
		t.Fatal("no cases in tests/addresses.json")
	}
	for _, tc := range table.Cases {
		got, err := ParseAddr(tc.Addr)
		if tc.Error != "" {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindArg || !strings.Contains(e.Msg, "invalid address") {
				t.Errorf("ParseAddr(%q) = %+v, %v; want an invalid address error (%s)", tc.Addr, got, err, tc.Error)
			}
			continue
		}
		want := Addr{Network: "unix", Address: tc.Path, Password: tc.Password, DB: tc.DB}
		if tc.Path == "" {
			want.Network, want.Address = "tcp", net.JoinHostPort(tc.Host, strconv.Itoa(tc.Port))
		}
		if err != nil || got != want {
			t.Errorf("ParseAddr(%q) = %+v, %v; want %+v", tc.Addr, got, err, want)
		}
	}
}
