package resp

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestSplitInline is a table of inline lines and the arguments Redis reads
// from them (each case checked against redis-server 7 with RPUSH + LRANGE),
// or nil where Redis answers "unbalanced quotes".
func TestSplitInline(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"", []string{}},
		{"   \t ", []string{}},
		{"GET k", []string{"GET", "k"}},
		{"  SET  k\tv  ", []string{"SET", "k", "v"}},
		{`SET "a b" "c d"`, []string{"SET", "a b", "c d"}},
		{`SET k ""`, []string{"SET", "k", ""}},
		{`SET k ''`, []string{"SET", "k", ""}},
		{`"a"'b'`, nil}, // a closing quote must be followed by a blank
		{`"a"b`, nil},
		{`'a'b`, nil},
		{`"a" b`, []string{"a", "b"}},
		{`a"b c"`, []string{"ab c"}}, // a quote may open mid-word
		{`a'b c'`, []string{"ab c"}},
		{`a"b`, nil},
		{`"abc`, nil},
		{`'abc`, nil},
		{`"abc\"`, nil},
		{`"ab\`, nil},
		{`"\n\r\t\b\a\\\"\q"`, []string{"\n\r\t\b\a\\\"q"}},
		{`"\x41\x6a\x6A\xff\x00"`, []string{"Ajj\xff\x00"}},
		{`"\x4" "\xzz" "\x"`, []string{"x4", "xzz", "x"}},
		{`'\n\x41\\ x'`, []string{`\n\x41\\ x`}},
		{`'a\\'`, nil}, // \' is an escaped quote even after a backslash
		{`'it\'s'`, []string{"it's"}},
		{`'a"b' "a'b"`, []string{`a"b`, "a'b"}},
		{`ab\"cd"`, []string{`ab\cd`}}, // no escapes outside quotes
		{`ab\"cd`, nil},
		{"a\vb \fc", []string{"a\vb", "c"}}, // \v, \f: blanks only between words
		{"\"a\"\v\"b\"\f", []string{"a", "b"}},
		{"\"a\r\nb\"", []string{"a\r\nb"}},
		{"é \xff\x00", []string{"é", "\xff\x00"}}, // bytes, not runes
		{"a\u00a0b", []string{"a\u00a0b"}},        // not a blank in Redis
	} {
		line := []byte(tc.line)
		got, err := splitInline(line, nil, 100)
		if tc.want == nil {
			if !errors.Is(err, errUnbalanced) {
				t.Errorf("%q: got %q, %v; want unbalanced quotes", tc.line, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(strs(got), tc.want) {
			t.Errorf("%q: got %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

func strs(args [][]byte) []string {
	out := []string{}
	for _, a := range args {
		out = append(out, string(a))
	}
	return out
}

// TestReaderInlineQuotes: the Reader hands out quoted inline arguments
// whole, and refuses unbalanced quotes with Redis's protocol error.
func TestReaderInlineQuotes(t *testing.T) {
	got, err := readAll(strings.NewReader("SET \"a b\" \"c d\"\r\nGET 'a b'\n"), DefaultLimits)
	want := [][]string{{"SET", "a b", "c d"}, {"GET", "a b"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	_, err = readAll(strings.NewReader("SET \"a b c d\r\n"), DefaultLimits)
	var perr *ProtocolError
	if !errors.As(err, &perr) || perr.Error() != "Protocol error: unbalanced quotes in request" {
		t.Fatalf("unbalanced: %v", err)
	}
}

// quoteInline is the inverse of splitInline: it writes args as one inline
// line, each in double quotes with every byte that needs it escaped.
func quoteInline(args [][]byte) []byte {
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		for _, c := range a {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < ' ' || c > '~':
				fmt.Fprintf(&b, `\x%02x`, c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
	return b.Bytes()
}

// FuzzSplitInline: any line splits without panicking into arguments that
// quoteInline writes back to a line splitting to the same arguments, and
// a line is rewritten only where its arguments were read from.
func FuzzSplitInline(f *testing.F) {
	for _, seed := range []string{`SET "a b" "c d"`, `'it\'s' "\x41\n"`, `a"b c"`, `"abc`, "a\vb \f\"c\"", `"\x4"`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		args, err := splitInline(bytes.Clone(line), nil, 1<<20)
		if err != nil {
			if !errors.Is(err, errUnbalanced) {
				t.Fatalf("%q: %v", line, err)
			}
			return
		}
		var total int
		for _, a := range args {
			total += len(a)
		}
		if total > len(line) {
			t.Fatalf("%q: %d argument bytes from a %d-byte line", line, total, len(line))
		}
		again, err := splitInline(quoteInline(args), nil, 1<<20)
		if err != nil || len(again) != len(args) {
			t.Fatalf("%q: args %q, requoted %q: %q, %v", line, args, quoteInline(args), again, err)
		}
		for i := range args {
			if !bytes.Equal(args[i], again[i]) {
				t.Fatalf("%q: args %q, requoted %q: %q", line, args, quoteInline(args), again)
			}
		}
	})
}
