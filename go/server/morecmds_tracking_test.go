//go:build linux && !tmc_portable

package server

import "testing"

// A tracking client that read either key of a RENAME, or the destination
// of a COPY, is told it changed.
func TestRenameAndCopyInvalidateTrackedKeys(t *testing.T) {
	for _, tc := range []struct {
		read string
		run  []string
	}{
		{"src", []string{"RENAME", "src", "dst"}},
		{"dst", []string{"RENAME", "src", "dst"}},
		{"dst", []string{"COPY", "src", "dst", "REPLACE"}},
		{"src", []string{"SETRANGE", "src", "0", "x"}},
	} {
		t.Run(tc.run[0]+" "+tc.read, func(t *testing.T) {
			s := start(t, tcpConfig())
			a, b := dialRaw(t, s, true), dialRaw(t, s, false)
			b.do("SET", "src", "v")
			b.do("SET", "dst", "w")
			a.do("CLIENT", "TRACKING", "ON")
			a.do("GET", tc.read)
			b.do(tc.run...)
			a.expect(">[invalidate [" + tc.read + "]]")
			a.quiet()
		})
	}
}
