//go:build unix

package server

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// With log_fd the log is JSON lines on that descriptor, which the server
// writes through a duplicate: after Close the reader sees the end, and the
// descriptor given stays the caller's.
func TestLogFDGetsJSONLines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cfg := tcpConfig()
	cfg.LogLevel, cfg.LogFD = "info", int(w.Fd())
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	addr := s.Addr().String()
	nc, replies := rawConn(t, s)
	nc.Write([]byte("PING\r\n"))
	if got := readLine(t, replies); got != "+PONG" { // served: Close now drains loops, as a running server's does
		t.Fatalf("PING: %q", got)
	}
	nc.Close()
	s.Close()
	w.Close() // the caller's end: now only a duplicate left open would keep the reader waiting

	if err := r.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var records []map[string]any
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", lines.Text())
		}
		records = append(records, rec)
	}
	if err := lines.Err(); err != nil {
		t.Fatalf("reading the log: %v (after %v)", err, records)
	}
	if len(records) != 2 {
		t.Fatalf("records %v, want listening and stopped", records)
	}
	if l := records[0]; l["level"] != "INFO" || l["msg"] != "listening" || l["addr"] != addr || l["network"] != "tcp" {
		t.Errorf("first record %v", l)
	}
	if records[1]["msg"] != "stopped" {
		t.Errorf("last record %v", records[1])
	}
}

func TestLogFDBad(t *testing.T) {
	for _, fd := range []int{-1, 1 << 20} {
		cfg := tcpConfig()
		cfg.LogFD = fd
		if s, err := Listen(cfg); err == nil {
			s.Close()
			t.Errorf("log_fd %d accepted", fd)
		}
	}
}
