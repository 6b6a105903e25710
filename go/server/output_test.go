package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// However a reply is built, one command's or a transaction's of many, the
// memory it makes the server allocate stays within a small multiple of
// max_output: the reply stops growing once it passes the bound, and the
// client is closed with none of it sent.
func TestMaxOutputBoundsEveryReplyAsItIsBuilt(t *testing.T) {
	const maxOutput = 1 << 20
	cfg := tcpConfig()
	cfg.MaxOutput = maxOutput
	s := start(t, cfg)
	s.store.Set([]byte("big"), bytes.Repeat([]byte("v"), 60_000), store.SetOptions{}) // copied into replies, not spliced
	for i := 0; i < 400; i++ {                                                        // a 24 MB list
		s.store.Push([]byte("list"), [][]byte{bytes.Repeat([]byte("l"), 60_000)}, false)
	}
	for i := 0; i < 20_000; i++ { // a 2.2 MB KEYS reply
		s.store.Set([]byte(fmt.Sprintf("key:%0100d", i)), nil, store.SetOptions{})
	}

	for _, tc := range []struct {
		name    string
		command []string
		times   int // in one MULTI/EXEC; 0: sent alone
	}{
		{"EXEC of GETs", []string{"GET", "big"}, 2000},          // 120 MB
		{"EXEC of MGETs", []string{"MGET", "big", "big"}, 1000}, // 120 MB
		{"EXEC of LRANGEs", []string{"LRANGE", "list", "0", "-1"}, 10},
		{"EXEC of KEYS", []string{"KEYS", "key:*"}, 50},
		{"LRANGE", []string{"LRANGE", "list", "0", "-1"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent, want []byte // want: the replies before EXEC's
			if tc.times > 0 {
				sent = resp.AppendCommand(nil, []byte("MULTI"))
				want = append(want, "+OK\r\n"...)
			}
			args := make([][]byte, len(tc.command))
			for i, a := range tc.command {
				args[i] = []byte(a)
			}
			for i := 0; i < max(tc.times, 1); i++ {
				sent = resp.AppendCommand(sent, args...)
			}
			if tc.times > 0 {
				sent = resp.AppendCommand(sent, []byte("SET"), []byte("after"), []byte("x"))
				sent = resp.AppendCommand(sent, []byte("EXEC"))
				want = append(want, strings.Repeat("+QUEUED\r\n", tc.times+1)...)
			}
			s.store.Del([]byte("after"))
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			nc, r := rawConn(t, s)
			nc.Write(sent) // and read nothing until the server is done
			got, err := io.ReadAll(r)
			runtime.ReadMemStats(&after)
			// The replies before the one past the bound may be cut short too.
			if err != nil && !errors.Is(err, syscall.ECONNRESET) || !bytes.HasPrefix(want, got) {
				t.Fatalf("%d bytes (%q...), %v; want at most %q and a hang-up", len(got), got[:min(len(got), 40)], err, want[:min(len(want), 40)])
			}
			grew := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d KiB", grew>>10)
			if grew > 8*maxOutput {
				t.Fatalf("a reply past a max_output of 1 MiB made the server allocate %d MiB", grew>>20)
			}
			if tc.times > 0 {
				if _, ok, _ := s.store.Get([]byte("after")); !ok {
					t.Fatal("the transaction stopped at the reply past max_output: it must run whole")
				}
			}
		})
	}
}

// A client that leaves more than max_output_soft reply bytes unread for
// max_output_soft_seconds on end is closed; one under the soft limit, or
// one that reads, is served on.
func TestMaxOutputSoftClosesAClientThatStaysPastIt(t *testing.T) {
	cfg := tcpConfig()
	cfg.MaxOutputSoft, cfg.MaxOutputSoftSeconds = 1<<20, 1
	s := start(t, cfg)
	big := bytes.Repeat([]byte("s"), 32<<20) // more than the sockets' buffers hold
	s.store.Set([]byte("big"), big, store.SetOptions{})
	s.store.Set([]byte("small"), bytes.Repeat([]byte("s"), 100<<10), store.SetOptions{})
	reply := resp.AppendBulk(nil, big)

	reader, r := rawConn(t, s) // reads its reply at once
	reader.Write([]byte("GET big\r\n"))
	if got := make([]byte, len(reply)); !readFull(r, got) || !bytes.Equal(got, reply) {
		t.Fatal("a client that reads its reply did not get it")
	}
	under, underR := rawConn(t, s)     // leaves a reply under the soft limit unread
	stalled, stalledR := rawConn(t, s) // leaves one past it unread
	under.Write([]byte("PING\r\n"))    // served: counted in clients
	stalled.Write([]byte("PING\r\n"))
	for _, r := range []*bufio.Reader{underR, stalledR} {
		if got := readLine(t, r); got != "+PONG" {
			t.Fatalf("PING: %q", got)
		}
	}
	under.Write([]byte("GET small\r\n"))
	stalled.Write([]byte("GET big\r\n"))

	for deadline := time.Now().Add(10 * time.Second); clients(s) > 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the client past max_output_soft was not closed in 10 s")
		}
	}
	got, err := io.ReadAll(stalledR)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) || len(got) >= len(reply) {
		t.Fatalf("the client past max_output_soft read %d of %d bytes, %v; want a hang-up before the end", len(got), len(reply), err)
	}
	under.Write([]byte("PING\r\n"))
	want := append(resp.AppendBulk(nil, bytes.Repeat([]byte("s"), 100<<10)), "+PONG\r\n"...)
	if got := make([]byte, len(want)); !readFull(underR, got) || !bytes.Equal(got, want) {
		t.Fatal("the client under max_output_soft was not served on")
	}
	reader.Write([]byte("PING\r\n"))
	if got := make([]byte, 7); !readFull(r, got) || string(got) != "+PONG\r\n" {
		t.Fatal("the client that read its reply was not served on")
	}
}

func readFull(r io.Reader, p []byte) bool {
	_, err := io.ReadFull(r, p)
	return err == nil
}

// clients is how many clients s serves.
func clients(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients
}
