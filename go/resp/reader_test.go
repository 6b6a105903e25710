package resp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll parses every command in the stream, copying the arguments.
func readAll(r io.Reader, lim Limits) ([][]string, error) {
	rd := NewReader(r, lim)
	var cmds [][]string
	for {
		args, err := rd.Next()
		if err == ErrIncomplete {
			if err = rd.Fill(); err == nil {
				continue
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return cmds, err
		}
		cmd := make([]string, len(args))
		for i, a := range args {
			cmd[i] = string(a)
		}
		cmds = append(cmds, cmd)
	}
}

func TestReaderCommands(t *testing.T) {
	big := strings.Repeat("x", 100000)
	for _, tc := range []struct {
		name string
		in   string
		want [][]string
	}{
		{"one", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", [][]string{{"GET", "k"}}},
		{"pipelined", "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", [][]string{{"PING"}, {"GET", "k"}}},
		{"empty bulk", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", [][]string{{"SET", "k", ""}}},
		{"binary", "*2\r\n$3\r\nGET\r\n$4\r\n\r\n\x00\xff\r\n", [][]string{{"GET", "\r\n\x00\xff"}}},
		{"big", "*2\r\n$3\r\nGET\r\n$100000\r\n" + big + "\r\n", [][]string{{"GET", big}}},
		{"empty arrays skipped", "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}},
		{"inline", "SET k  v\r\nGET k\n", [][]string{{"SET", "k", "v"}, {"GET", "k"}}},
		{"blank lines skipped", "\r\n\n PING\r\n", [][]string{{"PING"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tc.in)},
				{"byte by byte", iotest.OneByteReader(strings.NewReader(tc.in))},
				{"halves", iotest.HalfReader(strings.NewReader(tc.in))},
			} {
				got, err := readAll(r.r, DefaultLimits)
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("%s: got %q; want %q", r.name, got, tc.want)
				}
			}
		})
	}
}

func TestReaderRejects(t *testing.T) {
	small := Limits{MaxBulk: 10, MaxArgs: 3, MaxInline: 16, MaxQuery: 1 << 20}
	for _, tc := range []struct {
		name, in, msg string
	}{
		{"bulk over limit", "*1\r\n$11\r\n", "invalid bulk length"},
		{"huge declared bulk", "*1\r\n$99999999999\r\n", "invalid bulk length"},
		{"negative bulk", "*1\r\n$-1\r\n", "invalid bulk length"},
		{"too many args", "*4\r\n", "invalid multibulk length"},
		{"bad array length", "*x\r\n", "invalid multibulk length"},
		{"not a bulk", "*1\r\n:1\r\n", "expected '$', got ':'"},
		{"missing CRLF after bulk", "*1\r\n$1\r\nab\r\n", "not followed by CRLF"},
		{"header without CR", "*1\n", "not ended by CRLF"},
		{"endless header", "*111111111111111111111111111111111111", "header line too long"},
		{"long inline", strings.Repeat("a", 17) + "\r\n", "too big inline request"},
		{"endless inline", strings.Repeat("a", 100), "too big inline request"},
		{"too many inline args", "a b c d\r\n", "invalid multibulk length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(strings.NewReader(tc.in), small)
			var perr *ProtocolError
			if !errors.As(err, &perr) || !strings.Contains(perr.Msg, tc.msg) {
				t.Fatalf("err = %v; want a protocol error containing %q", err, tc.msg)
			}
		})
	}
}

func TestReaderMaxQueryBelowBufferSize(t *testing.T) {
	lim := DefaultLimits
	lim.MaxQuery = 4096
	ok := AppendCommand(nil, []byte("SET"), []byte("k"), bytes.Repeat([]byte("x"), 4000))
	if _, err := readAll(bytes.NewReader(ok), lim); err != nil {
		t.Fatalf("a %d-byte command under max_query 4096: %v", len(ok), err)
	}
	big := AppendCommand(nil, []byte("SET"), []byte("k"), bytes.Repeat([]byte("x"), 4097))
	_, err := readAll(bytes.NewReader(big), lim)
	var perr *ProtocolError
	if !errors.As(err, &perr) || perr.Msg != "too big request" {
		t.Fatalf("a %d-byte command over max_query 4096: err = %v", len(big), err)
	}
}

func TestReaderMaxQuery(t *testing.T) {
	lim := DefaultLimits
	lim.MaxQuery = 64 << 10
	in := "*1\r\n$100000\r\n" + strings.Repeat("x", 100000) + "\r\n"
	_, err := readAll(strings.NewReader(in), lim)
	var perr *ProtocolError
	if !errors.As(err, &perr) || perr.Msg != "too big request" {
		t.Fatalf("err = %v; want too big request", err)
	}
}

// chunks reads at most n bytes at a time, as a socket often does.
type chunks struct {
	r io.Reader
	n int
}

func (c chunks) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// A big argument that has not all arrived is read straight into an
// allocation of its own, with room after it for the argument before it
// (the store keeps the key after the value), which the caller may keep
// (Owns): the buffer does not grow for it, and no Fill reads more than
// maxTurn bytes, so other clients get their turns. The arguments around it
// still come from the buffer, and a CRLF must still follow it.
func TestReaderBigArgument(t *testing.T) {
	value := bytes.Repeat([]byte("0123456789abcdef"), (3*maxTurn+5)/16)
	in := AppendCommand(nil, []byte("MSET"), []byte("k"), value, []byte("k2"), []byte("v2"))
	in = AppendCommand(in, []byte("PING"))
	for _, chunk := range []int{len(in), 1000, 7} {
		rd := NewReader(chunks{bytes.NewReader(in), chunk}, DefaultLimits)
		var names []string
		for len(names) < 2 {
			args, err := rd.Next()
			if err == ErrIncomplete {
				before := len(rd.rest)
				if err := rd.Fill(); err != nil {
					t.Fatal(err)
				}
				if read := before - len(rd.rest); read > maxTurn {
					t.Fatalf("one Fill read %d bytes of a big argument", read)
				}
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			names = append(names, string(args[0]))
			if len(names) > 1 {
				continue
			}
			if len(args) != 5 || !bytes.Equal(args[2], value) || string(args[1]) != "k" || string(args[3]) != "k2" || string(args[4]) != "v2" {
				t.Fatalf("chunks of %d: the MSET arrived changed", chunk)
			}
			if !rd.Owns(args[2]) || rd.Owns(args[1]) || rd.Owns(args[4]) {
				t.Fatalf("chunks of %d: Owns is wrong", chunk)
			}
			if cap(args[2]) != len(value)+len("k") {
				t.Fatalf("chunks of %d: the big argument has capacity %d; want room for the key", chunk, cap(args[2]))
			}
			if len(rd.buf) != minBuffer {
				t.Fatalf("chunks of %d: a big argument grew the buffer to %d bytes", chunk, len(rd.buf))
			}
		}
		if names[0] != "MSET" || names[1] != "PING" {
			t.Fatalf("commands %q", names)
		}
		if n := rd.Shrink(); n != len(value) || len(rd.bigs) != 0 {
			t.Fatalf("chunks of %d: Shrink let go of %d bytes, kept %d big arguments; want the big one's %d", chunk, n, len(rd.bigs), len(value))
		}
	}
	bad := AppendCommand(nil, []byte("SET"), []byte("k"), value)
	bad[len(bad)-2] = 'x'
	if _, err := readAll(chunks{bytes.NewReader(bad), 1000}, DefaultLimits); err == nil || !strings.Contains(err.Error(), "not followed by CRLF") {
		t.Fatalf("a big argument without its CRLF: %v", err)
	}
	lim := DefaultLimits
	lim.MaxQuery = len(value) + 100
	two := AppendCommand(nil, []byte("MSET"), []byte("a"), value, []byte("b"), value)
	if _, err := readAll(chunks{bytes.NewReader(two), 1000}, lim); err == nil || !strings.Contains(err.Error(), "too big request") {
		t.Fatalf("two big arguments over MaxQuery: %v", err)
	}
}

// TestReaderShrinks checks that one huge command does not pin its buffer,
// and that the buffer for a big argument that arrived whole grows to its
// size, not twice that.
func TestReaderShrinks(t *testing.T) {
	value := bytes.Repeat([]byte("x"), 1<<20)
	in := AppendCommand(nil, []byte("SET"), []byte("k"), value)
	in = AppendCommand(in, []byte("PING"))
	rd := NewReader(bytes.NewReader(nil), DefaultLimits)
	rd.buf, rd.end = in, len(in) // as if it had arrived in one read
	var names []string
	for len(names) < 2 {
		args, err := rd.Next()
		if err == ErrIncomplete {
			if err := rd.Fill(); err != nil {
				t.Fatal(err)
			}
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		names = append(names, string(args[0]))
		if len(names) == 1 {
			if !bytes.Equal(args[2], value) {
				t.Fatal("the big argument arrived changed")
			}
			if rd.Owns(args[2]) {
				t.Fatal("Owns an argument in the buffer")
			}
		}
	}
	if names[0] != "SET" || names[1] != "PING" {
		t.Fatalf("commands %q", names)
	}
	if n := rd.Shrink(); n < len(value) {
		t.Fatalf("Shrink dropped %d bytes after the big command", n)
	}
	if len(rd.buf) > keepLimit {
		t.Fatalf("buffer still %d bytes after the big command was consumed", len(rd.buf))
	}
}

// Before AUTH, a client may send only small commands: a declared bulk or
// argument count over Redis's limits for that is refused before anything
// is buffered for it, with Redis's error. After AUTH, the limits are back.
func TestReaderLimitsBeforeAuth(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"*1\r\n$16385\r\n", "unauthenticated bulk length"},
		{"*11\r\n", "unauthenticated multibulk length"},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\nxx", "unauthenticated bulk length"},
	} {
		_, err := readAll(strings.NewReader(tc.in), DefaultLimits.BeforeAuth())
		var perr *ProtocolError
		if !errors.As(err, &perr) || perr.Msg != tc.msg {
			t.Errorf("%q: err = %v; want %q", tc.in, err, tc.msg)
		}
	}
	small := AppendCommand(nil, []byte("AUTH"), bytes.Repeat([]byte("p"), 16<<10))
	if cmds, err := readAll(bytes.NewReader(small), DefaultLimits.BeforeAuth()); err != nil || len(cmds) != 1 {
		t.Fatalf("a 16 KiB AUTH: %d commands, %v", len(cmds), err)
	}
	rd := NewReader(strings.NewReader("*1\r\n$20000\r\n"), DefaultLimits.BeforeAuth())
	rd.SetLimits(DefaultLimits)
	rd.Fill()
	if _, err := rd.Next(); err != ErrIncomplete {
		t.Fatalf("after AUTH, a 20000-byte bulk: %v; want it accepted", err)
	}
}

func TestReplyRaw(t *testing.T) {
	in := "*3\r\n$3\r\nabc\r\n:7\r\n*2\r\n+OK\r\n$-1\r\n-ERR x\r\n"
	rr := NewReplyReader(strings.NewReader(in))
	first, err := rr.Raw(nil)
	if err != nil || string(first) != "*3\r\n$3\r\nabc\r\n:7\r\n*2\r\n+OK\r\n$-1\r\n" {
		t.Fatalf("Raw = %q, %v", first, err)
	}
	second, err := rr.Raw(nil)
	if err != nil || string(second) != "-ERR x\r\n" {
		t.Fatalf("Raw = %q, %v", second, err)
	}
}

func TestAppend(t *testing.T) {
	var b []byte
	b = AppendSimple(b, "OK")
	b = AppendError(b, "ERR bad\r\nthing")
	b = AppendInt(b, -12)
	b = AppendBulk(b, []byte("hi"))
	b = AppendNull(b)
	b = AppendArray(b, 2)
	want := "+OK\r\n-ERR bad  thing\r\n:-12\r\n$2\r\nhi\r\n$-1\r\n*2\r\n"
	if string(b) != want {
		t.Fatalf("got %q; want %q", b, want)
	}
}

// FuzzReader feeds arbitrary bytes to the parser: it must never panic, and
// anything it accepts must survive a round trip through AppendCommand.
func FuzzReader(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
	f.Add([]byte("PING\r\n"))
	f.Add([]byte("*1\r\n$99999999999\r\n"))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*0\r\n"))
	lim := Limits{MaxBulk: 1 << 16, MaxArgs: 64, MaxInline: 1 << 10, MaxQuery: 1 << 20}
	f.Fuzz(func(t *testing.T, in []byte) {
		cmds, err := readAll(iotest.HalfReader(bytes.NewReader(in)), lim)
		var perr *ProtocolError
		if err != nil && !errors.As(err, &perr) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		var again []byte
		for _, cmd := range cmds {
			if len(cmd) == 0 || len(cmd) > lim.MaxArgs {
				t.Fatalf("command with %d arguments accepted", len(cmd))
			}
			args := make([][]byte, len(cmd))
			for i, a := range cmd {
				args[i] = []byte(a)
			}
			again = AppendCommand(again, args...)
		}
		back, err := readAll(bytes.NewReader(again), lim)
		if err != nil || !reflect.DeepEqual(back, cmds) {
			t.Fatalf("round trip changed %q into %q (%v)", cmds, back, err)
		}
	})
}

func BenchmarkReaderGet(b *testing.B) {
	cmd := AppendCommand(nil, []byte("GET"), []byte("user:12345"))
	var r loopReader
	r.data = cmd
	rd := NewReader(&r, DefaultLimits)
	b.ReportAllocs()
	b.SetBytes(int64(len(cmd)))
	for i := 0; i < b.N; i++ {
		args, err := rd.Next()
		if err == ErrIncomplete {
			rd.Fill()
			args, err = rd.Next()
		}
		if err != nil || len(args) != 2 {
			b.Fatal(err)
		}
	}
}

// loopReader returns its data again and again.
type loopReader struct{ data []byte }

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n+len(l.data) <= len(p) {
		n += copy(p[n:], l.data)
	}
	return n, nil
}
