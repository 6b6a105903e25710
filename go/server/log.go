package server

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// openLog makes the server's logger at cfg.LogLevel: slog's text lines on
// stderr, or, given cfg.LogFD, JSON lines (slog's: time, level, msg, then
// the record's attributes) on a duplicate of that descriptor. Python's
// serve() passes a pipe there and reads it into its logging module (the
// tiny_mp_cache.server logger). The closer, nil for stderr, closes the
// duplicate once the server is done; a record logged after that is dropped.
func openLog(cfg Config) (*slog.Logger, io.Closer, error) {
	lv, err := parseLevel(cfg.LogLevel)
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

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "warn", "warning":
		return slog.LevelWarn, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log_level must be debug, info, warn or error, not %q", s)
}
