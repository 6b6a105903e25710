package server

import (
	"slices"
	"testing"
)

// The keys of ZUNION and its kin follow a count of them: the command table
// says where that count is, and tracking finds the keys from it.
func TestCountedKeysAreFound(t *testing.T) {
	split := func(s ...string) [][]byte {
		var out [][]byte
		for _, a := range s {
			out = append(out, []byte(a))
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"ZUNION", "2", "a", "b", "WITHSCORES"}, []string{"a", "b"}},
		{[]string{"ZINTERCARD", "1", "a", "LIMIT", "1"}, []string{"a"}},
		{[]string{"ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"}, []string{"d", "a", "b"}},
		{[]string{"ZDIFFSTORE", "d", "3", "a", "b"}, []string{"d"}}, // a count past the arguments counts none
		{[]string{"ZINTER", "x", "a"}, nil},
		{[]string{"ZINTER", "0", "a"}, nil},
		{[]string{"GET", "k"}, []string{"k"}},
	} {
		cmd := commands[string(lowerName([]byte(tc.args[0])))]
		var got []string
		for _, k := range cmd.keysOf(split(tc.args...)) {
			got = append(got, string(k))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: keys %q, want %q", tc.args, got, tc.want)
		}
	}
	for _, name := range []string{"zunion", "zinter", "zdiff", "zintercard"} {
		if !commands[name].tracks() {
			t.Errorf("%s is not tracked", name)
		}
	}
}
