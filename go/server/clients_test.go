package server

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clientIDOf returns the CLIENT ID of a raw connection.
func clientIDOf(t *testing.T, nc net.Conn, r *bufio.Reader) string {
	t.Helper()
	nc.Write([]byte("CLIENT ID\r\n"))
	return strings.TrimPrefix(readLine(t, r), ":")
}

// bulkOf sends a command whose reply is one bulk string, and returns it.
func bulkOf(t *testing.T, nc net.Conn, r *bufio.Reader, cmd string) string {
	t.Helper()
	nc.Write([]byte(cmd + "\r\n"))
	n, err := strconv.Atoi(strings.TrimPrefix(readLine(t, r), "$"))
	if err != nil {
		t.Fatalf("%s: not a bulk string: %v", cmd, err)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// closed waits for the server to hang up on nc, and fails if it does not.
func closed(t *testing.T, nc net.Conn, r *bufio.Reader) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := r.ReadByte(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the killed connection is still open")
			}
			return
		}
	}
}

// CLIENT LIST sees the clients of every loop, and CLIENT KILL closes a
// client on another loop, from that loop, blocked or not; the others
// keep being served.
func TestClientListAndKillAcrossLoops(t *testing.T) {
	for _, cfg := range transports(t) {
		t.Run(cfg.Network, func(t *testing.T) {
			s := start(t, cfg)
			a, ar := rawConn(t, s)
			b, br := rawConn(t, s)
			blocked, blr := rawConn(t, s)
			aID, bID, blockedID := clientIDOf(t, a, ar), clientIDOf(t, b, br), clientIDOf(t, blocked, blr)
			b.Write([]byte("CLIENT SETNAME bee\r\n"))
			readLine(t, br)
			blocked.Write([]byte("BLPOP nothing 0\r\n"))
			c := dial(t, s)
			waitForInfo(t, c, "blocked_clients", "1")

			list := bulkOf(t, a, ar, "CLIENT LIST")
			lines := strings.Split(strings.TrimSuffix(list, "\n"), "\n")
			if len(lines) != 4 {
				t.Fatalf("CLIENT LIST has %d lines; want the 4 clients:\n%s", len(lines), list)
			}
			line := regexp.MustCompile(`^id=(\d+) addr=\S+ laddr=\S+ fd=\d+ name=(\S*) age=\d+ idle=\d+ flags=(\w+) db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=(\S+) user=default redir=-1 resp=2$`)
			want := map[string]string{aID: " client|list", bID: "bee client|setname", blockedID: " blpop"}
			for _, l := range lines {
				m := line.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("CLIENT LIST line not as Redis prints it: %q", l)
				}
				if w, ok := want[m[1]]; ok && w != m[2]+" "+m[4] {
					t.Errorf("client %s: name and cmd %q; want %q", m[1], m[2]+" "+m[4], w)
				}
				if m[1] == blockedID && !strings.Contains(m[3], "b") {
					t.Errorf("the blocked client's flags %q lack b", m[3])
				}
			}
			if got := bulkOf(t, a, ar, "CLIENT LIST ID "+bID+" 999"); !strings.HasPrefix(got, "id="+bID+" ") || strings.Count(got, "\n") != 1 {
				t.Fatalf("CLIENT LIST ID %s = %q", bID, got)
			}

			// a and b are on different loops: each new client goes to the
			// loop with the fewest.
			for _, victim := range []struct {
				id string
				nc net.Conn
				r  *bufio.Reader
			}{{bID, b, br}, {blockedID, blocked, blr}} {
				a.Write([]byte("CLIENT KILL ID " + victim.id + "\r\n"))
				if got := readLine(t, ar); got != ":1" {
					t.Fatalf("CLIENT KILL ID %s = %q; want :1", victim.id, got)
				}
				closed(t, victim.nc, victim.r)
			}
			waitForInfo(t, c, "blocked_clients", "0")
			a.Write([]byte("CLIENT KILL ID " + bID + "\r\nPING\r\n"))
			if got := readLine(t, ar) + " " + readLine(t, ar); got != ":0 +PONG" {
				t.Fatalf("killing a killed client, then PING = %q", got)
			}
			if got := bulkOf(t, a, ar, "CLIENT LIST"); strings.Count(got, "\n") != 2 {
				t.Fatalf("CLIENT LIST after the kills:\n%s", got)
			}
			// A client may kill itself: it gets its reply, then the server
			// hangs up. Over TCP, the old form names its address; on a
			// unix socket every client has the socket's, as in Redis.
			kill, reply := "CLIENT KILL ID "+aID+" SKIPME no", ":1"
			if cfg.Network == "tcp" {
				addr := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(bulkOf(t, a, ar, "CLIENT INFO"))[1]
				kill, reply = "CLIENT KILL "+addr, "+OK"
			}
			a.Write([]byte(kill + "\r\n"))
			if got := readLine(t, ar); got != reply {
				t.Fatalf("%s (itself) = %q; want %q", kill, got, reply)
			}
			closed(t, a, ar)
			if got := do(t, c, "PING"); got != "+PONG\r\n" {
				t.Fatalf("a client left alone: PING = %q", got)
			}
		})
	}
}

func TestClientCommandErrors(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	for _, tc := range []struct{ args, want string }{
		{"CLIENT KILL ID 0", "-ERR client-id should be greater than 0\r\n"},
		{"CLIENT KILL USER bob", "-ERR No such user 'bob'\r\n"},
		{"CLIENT KILL SKIPME maybe", "-ERR syntax error\r\n"},
		{"CLIENT KILL 1.2.3.4:5", "-ERR No such client\r\n"},
		{"CLIENT KILL TYPE nor", "-ERR Unknown client type 'nor'\r\n"},
		{"CLIENT KILL TYPE master", ":0\r\n"},
		{"CLIENT KILL USER default", ":0\r\n"},
		{"CLIENT KILL", "-ERR wrong number of arguments for 'client|kill' command\r\n"},
		{"CLIENT LIST ID x", "-ERR Invalid client ID\r\n"},
		{"CLIENT LIST TYPE foo", "-ERR Unknown client type 'foo'\r\n"},
		{"CLIENT LIST foo", "-ERR syntax error\r\n"},
		{"CLIENT LIST TYPE pubsub", "$0\r\n\r\n"},
	} {
		if got := do(t, c, strings.Fields(tc.args)...); got != tc.want {
			t.Errorf("%s = %q; want %q", tc.args, got, tc.want)
		}
	}
}

// CLIENT LIST's cmd is the last command the client sent: EXEC for a
// transaction, whatever ran inside it, as in Redis.
func TestClientListNamesTheCommandSent(t *testing.T) {
	s := start(t, tcpConfig())
	nc, r := rawConn(t, s)
	nc.Write([]byte("MULTI\r\nCLIENT ID\r\nSET k v\r\nEXEC\r\n"))
	for range 6 { // +OK +QUEUED +QUEUED *2 :id +OK
		readLine(t, r)
	}
	if got := bulkOf(t, nc, r, "CLIENT INFO"); !strings.Contains(got, " cmd=client|info ") {
		t.Fatalf("CLIENT INFO = %q", got)
	}
	c := dial(t, s)
	if got := do(t, c, "CLIENT", "LIST"); !strings.Contains(got, " cmd=client|info ") || !strings.Contains(got, " cmd=client|list ") {
		t.Fatalf("CLIENT LIST = %q", got)
	}
	nc.Write([]byte("MULTI\r\nCLIENT ID\r\nSET k v\r\nEXEC\r\n"))
	for range 6 {
		readLine(t, r)
	}
	if got := do(t, c, "CLIENT", "LIST"); !strings.Contains(got, " cmd=exec ") {
		t.Fatalf("CLIENT LIST after the other's EXEC = %q", got)
	}
}
