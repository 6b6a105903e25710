package server

import (
	"fmt"
	"io"
	"log/slog"
	"os"
)

// openLog makes the server's logger at cfg.LogLevel: slog's text lines on
// stderr, or, given cfg.LogFD, JSON lines (slog's: time, level, msg, then
// the record's attributes) on a duplicate of that descriptor. Python's
// serve() passes a pipe there and reads it into its logging module (the
// tiny_mp_cache.server logger). The closer, nil for stderr, closes the
// duplicate once the server is done; a record logged after that is dropped.
func openLog(cfg Config) (*slog.Logger, io.Closer, error) {
	lv, err := cfg.logLevel()
	if err != nil {
		return nil, nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	if cfg.LogFD == 0 {
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil, nil
	}
	f, err := dupLogFD(cfg.LogFD)
	if err != nil {
		return nil, nil, fmt.Errorf("log_fd %d: %v", cfg.LogFD, err)
	}
	return slog.New(slog.NewJSONHandler(f, opts)), f, nil
}
