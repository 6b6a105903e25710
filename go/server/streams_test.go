package server

import "testing"

// A blocked XREAD reads and takes nothing: one XADD serves every client
// waiting on the stream, each with the entries above the ID it gave ("$":
// those after the stream's last when it blocked), and a timeout answers a
// null array. The replies are redis-server 7.0's.
func TestBlockedXReadsAreAllServed(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	do(t, c, "XADD", "s", "1-1", "f", "old")
	first, r1 := rawConn(t, s)
	second, r2 := rawConn(t, s)
	first.Write([]byte("XREAD BLOCK 0 STREAMS s $\r\n"))
	waitForInfo(t, c, "blocked_clients", "1")
	second.Write([]byte("XREAD COUNT 5 BLOCK 0 STREAMS other s 0 1-1\r\n"))
	waitForInfo(t, c, "blocked_clients", "2")
	do(t, c, "RPUSH", "other", "not a stream") // serves nobody
	do(t, c, "XADD", "s", "2-1", "f", "new")
	want := []string{"*1", "*2", "$1", "s", "*1", "*2", "$3", "2-1", "*2", "$1", "f", "$3", "new"}
	readReply(t, r1, want)
	readReply(t, r2, want)
	if got := do(t, c, "XLEN", "s"); got != ":2\r\n" {
		t.Fatalf("XLEN after the reads = %q; want 2: a read takes nothing", got)
	}

	timed, rt := rawConn(t, s)
	timed.Write([]byte("XREAD BLOCK 10 STREAMS s $\r\n"))
	readReply(t, rt, []string{"*-1"})
	gone, _ := rawConn(t, s)
	gone.Write([]byte("XREAD BLOCK 0 STREAMS s $\r\n"))
	waitForInfo(t, c, "blocked_clients", "1")
	gone.Close()
	waitForInfo(t, c, "blocked_clients", "0")
	do(t, c, "XADD", "s", "3-1", "f", "v")
	if got := do(t, c, "XLEN", "s"); got != ":3\r\n" {
		t.Fatalf("XLEN after a waiter hung up = %q; want 3", got)
	}
}
