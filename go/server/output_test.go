package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"syscall"
	"testing"

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
