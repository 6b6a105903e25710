package client

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// hostile serves each connection with serve, which gets the first request.
// The listener closes when the test ends.
func hostile(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err == nil {
					serve(c)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func wantKind(t *testing.T, err error, kind Kind, what string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != kind {
		t.Fatalf("%s = %v; want an error of kind %d", what, err, kind)
	}
}

// The timeout bounds a call as a whole, not each read: a server that
// sends a byte every 50 ms cannot stretch a call past it.
func TestTimeoutBoundsTheWholeCall(t *testing.T) {
	addr := hostile(t, func(c net.Conn) {
		reply := "$90\r\n" + strings.Repeat("x", 90) + "\r\n"
		for i := range reply {
			time.Sleep(50 * time.Millisecond)
			if _, err := c.Write([]byte{reply[i]}); err != nil {
				return
			}
		}
	})
	c, err := Dial(addr, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, _, err := c.Get([]byte("k")); return err }},
		{"Do", func() error { _, err := c.Do([]byte("GET"), []byte("k")); return err }},
	} {
		start := time.Now()
		err := call.do()
		wantKind(t, err, KindTimeout, call.name+" from a trickling server")
		if took := time.Since(start); took > time.Second {
			t.Fatalf("%s took %v with a timeout of 300ms", call.name, took)
		}
	}
}

// An endless array ends at the reply limit, however fast it comes.
func TestEndlessArrayEndsAtTheReplyLimit(t *testing.T) {
	addr := hostile(t, func(c net.Conn) {
		c.Write([]byte("*100000000\r\n"))
		batch := bytes.Repeat([]byte(":1\r\n"), 10000)
		for {
			if _, err := c.Write(batch); err != nil {
				return
			}
		}
	})
	c, err := DialWith(addr, Options{Timeout: 10 * time.Second, MaxReply: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Do([]byte("KEYS"), []byte("*"))
	wantKind(t, err, KindProto, "Do of an endless array")
	if !strings.Contains(err.Error(), "max_reply_size") {
		t.Fatalf("error %q does not name the limit", err)
	}
}

// A declared length over the limit is refused before alloc is asked, and
// a failed alloc is an error; either way the connection is dropped.
func TestGetInRefusesBeforeAllocating(t *testing.T) {
	addr := hostile(t, func(c net.Conn) {
		c.Write([]byte("$1099511627776\r\n"))
		time.Sleep(time.Second)
	})
	c, err := Dial(addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	asked := 0
	_, _, err = c.GetIn([]byte("k"), func(n int) []byte { asked++; return nil })
	wantKind(t, err, KindProto, "GetIn of 1 TiB")
	if asked != 0 {
		t.Fatalf("alloc was asked %d times for a length over the limit", asked)
	}
	if c.nc != nil {
		t.Fatal("the connection was kept after a protocol error")
	}
	c2, err := DialWith(addr, Options{Timeout: 2 * time.Second, MaxReply: 1 << 41})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, _, err = c2.GetIn([]byte("k"), func(n int) []byte { asked++; return nil })
	wantKind(t, err, KindProto, "GetIn whose alloc failed")
	if asked != 1 || !strings.Contains(err.Error(), "cannot allocate") {
		t.Fatalf("GetIn = %v after %d allocs; want one refused alloc", err, asked)
	}
}
