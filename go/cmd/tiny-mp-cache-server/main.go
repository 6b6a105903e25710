// Command tiny-mp-cache-server runs a tiny-mp-cache server on its own, for
// a sidecar container or a host without Python. It speaks RESP2, so any
// Redis client can talk to it.
//
//	tiny-mp-cache-server --port 5002
//	tiny-mp-cache-server --unix /run/cache.sock --max-memory 512MB
//	tiny-mp-cache-server --version
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/tiny-mp-cache/tiny-mp-cache/internal/procs"
	"github.com/tiny-mp-cache/tiny-mp-cache/server"
)

func main() {
	procs.AtLeastTwo()
	var (
		cfg       server.Config
		port      = flag.Int("port", 0, "serve TCP on this port")
		host      = flag.String("host", "127.0.0.1", "address to bind for TCP")
		unix      = flag.String("unix", "", "serve on this Unix socket path instead of TCP")
		maxMemory = flag.String("max-memory", "0", "memory bound, such as 512MB (0: none)")
		unixMode  = flag.String("unix-mode", "600", "permissions of the Unix socket, in octal")
	)
	flag.StringVar(&cfg.Password, "password", os.Getenv("TINY_MP_CACHE_PASSWORD"), "require AUTH with this password (default $TINY_MP_CACHE_PASSWORD)")
	flag.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a non-loopback bind without a password")
	flag.StringVar(&cfg.EvictionPolicy, "eviction-policy", "sieve", "sieve or noeviction")
	flag.IntVar(&cfg.MaxClients, "max-clients", server.DefaultMaxClients, "most clients at once")
	flag.IntVar(&cfg.MaxQuery, "max-query", 0, "most bytes one request may take (0: 1 GiB)")
	flag.IntVar(&cfg.MaxOutput, "max-output", 0, "most reply bytes waiting for one client (0: 1 GiB)")
	flag.IntVar(&cfg.MaxOutputSoft, "max-output-soft", 0, "a client with more reply bytes unread for --max-output-soft-seconds is closed (0: 64 MiB; --max-output or more: never)")
	flag.IntVar(&cfg.MaxOutputSoftSeconds, "max-output-soft-seconds", 0, "see --max-output-soft (0: 60)")
	flag.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	flag.IntVar(&cfg.Loops, "loops", 0, "event loops serving clients (0: one per usable CPU)")
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println("tiny-mp-cache-server", server.Version) // tests/test_packaging.py holds it equal to the Python package's
		return
	}

	switch {
	case *unix != "" && *port != 0:
		fail("give --port or --unix, not both")
	case *unix != "":
		cfg.Network, cfg.Addr = "unix", *unix
	case *port > 0 && *port < 65536:
		cfg.Network, cfg.Addr = "tcp", net.JoinHostPort(*host, strconv.Itoa(*port))
	default:
		fail("give --port N (1-65535) or --unix PATH")
	}
	mm, err := server.ParseByteSize(*maxMemory)
	if err != nil {
		fail("--max-memory: " + err.Error())
	}
	cfg.MaxMemory = mm
	mode, err := strconv.ParseUint(*unixMode, 8, 32)
	if err != nil {
		fail("--unix-mode: not an octal mode: " + *unixMode)
	}
	cfg.UnixMode = uint32(mode)

	s, err := server.Listen(cfg)
	if err != nil {
		fail(err.Error())
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	closed := make(chan struct{})
	go func() {
		<-sig
		s.Close()
		close(closed)
	}()
	s.Serve()
	<-closed
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "tiny-mp-cache-server:", msg)
	os.Exit(2)
}
