package server

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// BenchmarkExec runs commands as the loop does, from parsing the request to
// the reply, without the socket: the server's own cost of a command, over
// 250 keys. set overwrites them, get reads them; setpop is the latency
// benchmark's pattern, SETs of 250 fresh keys, then a GETDEL of each.
func BenchmarkExec(b *testing.B) {
	for _, size := range []int{100, 10240} {
		for _, op := range []string{"set", "get", "setpop"} {
			b.Run(fmt.Sprintf("%s%d", op, size), func(b *testing.B) { benchmarkExec(b, op, size) })
		}
	}
}

func benchmarkExec(b *testing.B, op string, size int) {
	s, err := Listen(unixConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := bytes.Repeat([]byte("v"), size)
	const keys = 250
	var sets, gets, pops [keys][]byte
	for i := range sets {
		key := []byte(fmt.Sprintf("lat00:%05d:%06d", size, i))
		sets[i] = resp.AppendCommand(nil, []byte("SET"), key, value)
		gets[i] = resp.AppendCommand(nil, []byte("GET"), key)
		pops[i] = resp.AppendCommand(nil, []byte("GETDEL"), key)
	}
	src := &bytes.Reader{}
	c := &conn{s: s, authed: true, rd: resp.NewReader(src, s.cfg.limits())}
	run := func(req []byte) {
		src.Reset(req)
		if err := c.rd.Fill(); err != nil {
			b.Fatal(err)
		}
		args, err := c.rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		c.out, _ = s.exec(c, args, c.out[:0])
		if len(c.out) == 0 || c.out[0] == '-' {
			b.Fatalf("%q", c.out)
		}
		c.rd.Shrink()
	}
	if op == "get" {
		for _, req := range sets {
			run(req)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % keys
		switch op {
		case "set":
			run(sets[k])
		case "get":
			run(gets[k])
		case "setpop":
			if i/keys%2 == 0 {
				run(sets[k])
			} else {
				run(pops[k])
			}
		}
	}
}
