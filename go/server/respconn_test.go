package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// respConn is a raw client that shows each RESP2/RESP3 value it reads as
// text: [a b] for arrays, maps and sets, >[...] for pushes, nil for nulls.
type respConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, s *Server, resp3 bool) *respConn {
	t.Helper()
	nc, r := rawConn(t, s)
	c := &respConn{t, nc, r}
	if resp3 {
		c.send("HELLO", "3")
		c.read() // the server's map
	}
	return c
}

func (c *respConn) send(args ...string) {
	c.t.Helper()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(resp.AppendCommand(nil, bs...)); err != nil {
		c.t.Fatal(err)
	}
}

// do sends a command and returns the next value read: its reply, unless
// pushes came first.
func (c *respConn) do(args ...string) string {
	c.t.Helper()
	c.send(args...)
	return c.read()
}

func (c *respConn) read() string {
	c.t.Helper()
	c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	v, err := readValue(c.r)
	if err != nil {
		c.t.Fatalf("reading a reply: %v", err)
	}
	return v
}

// expect reads the next values and fails unless they are want, in order.
func (c *respConn) expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if got := c.read(); got != w {
			c.t.Fatalf("got %q, want %q", got, w)
		}
	}
}

// quiet checks that nothing waits to be read: a PING's reply comes next.
func (c *respConn) quiet() {
	c.t.Helper()
	c.send("PING")
	c.expect("PONG")
}

func readValue(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty line")
	}
	body := line[1:]
	switch line[0] {
	case '+', ':', '-', ',', '#':
		return body, nil
	case '_':
		return "nil", nil
	case '$':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return "nil", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	case '*', '%', '>', '~':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return "nil", nil
		}
		if line[0] == '%' {
			n *= 2
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = readValue(r); err != nil {
				return "", err
			}
		}
		s := "[" + strings.Join(parts, " ") + "]"
		if line[0] == '>' {
			s = ">" + s
		}
		return s, nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
