package resp

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// A reader of replies trusts no length or depth the server declares.
func TestReplyReaderRefusesHostileReplies(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		limit          int
	}{
		{"1 TiB bulk", "$1099511627776\r\n", "max_reply_size", DefaultMaxReply},
		{"bulk over the limit", "$101\r\n", "max_reply_size", 100},
		{"bulk in an array over the limit", "*2\r\n$40\r\n" + strings.Repeat("x", 40) + "\r\n$40\r\n", "max_reply_size", 60},
		{"many small elements", "*1000\r\n" + strings.Repeat(":1\r\n", 1000), "max_reply_size", 1000},
		{"deep nesting", strings.Repeat("*1\r\n", 1<<20), "nested deeper than 64 levels", DefaultMaxReply},
		{"deep maps", strings.Repeat("%1\r\n", 100), "nested deeper than 64 levels", DefaultMaxReply},
		{"unknown type", "?x\r\n", "unknown reply type", DefaultMaxReply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr := NewReplyReader(strings.NewReader(tc.in))
			rr.Limit(tc.limit)
			_, err := rr.Raw(nil)
			var perr *ProtocolError
			if !errors.As(err, &perr) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Raw = %v; want a protocol error about %q", err, tc.want)
			}
		})
	}
}

func TestReplyReaderAcceptsWhatFits(t *testing.T) {
	nested := strings.Repeat("*1\r\n", MaxReplyDepth) + ":1\r\n"
	big := "$3000000\r\n" + strings.Repeat("v", 3000000) + "\r\n"
	for _, in := range []string{nested, big, "*0\r\n", "*-1\r\n", "$-1\r\n"} {
		rr := NewReplyReader(strings.NewReader(in))
		rr.Limit(len(in))
		got, err := rr.Raw(nil)
		if err != nil || string(got) != in {
			t.Fatalf("Raw of %.40q... = %d bytes, %v; want it back whole", in, len(got), err)
		}
	}
}

// Limit starts each call afresh.
func TestReplyLimitIsPerCall(t *testing.T) {
	rr := NewReplyReader(strings.NewReader(strings.Repeat("$5\r\nhello\r\n", 3)))
	for i := 0; i < 3; i++ {
		rr.Limit(11)
		if _, err := rr.Raw(nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

// A declared length costs memory only as its bytes arrive.
func TestReplyBodyGrowsAsBytesArrive(t *testing.T) {
	in := io.MultiReader(strings.NewReader("$400000000\r\n"), strings.NewReader(strings.Repeat("x", 1000)))
	rr := NewReplyReader(in)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := rr.Raw(nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Raw of a cut bulk = %v; want unexpected EOF", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("reading 1000 bytes of a declared 400 MB bulk allocated %d bytes", grew)
	}
}

// Whatever the server sends, Raw returns an error or the reply exactly as
// sent, and never panics, overflows its stack or allocates past its limit.
func FuzzReplyReader(f *testing.F) {
	for _, seed := range []string{"+OK\r\n", "$3\r\nabc\r\n", "*2\r\n:1\r\n$-1\r\n",
		"%1\r\n+a\r\n+b\r\n", "$1099511627776\r\n", "*1\r\n*1\r\n*1\r\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rr := NewReplyReader(bytes.NewReader(in))
		rr.Limit(1 << 20)
		got, err := rr.Raw(nil)
		if err == nil && !bytes.HasPrefix(in, got) {
			t.Fatalf("Raw(%q) = %q, not a prefix of its input", in, got)
		}
	})
}
