// Command tiny-mp-cache-server runs a tiny-mp-cache server on its own, for
// a sidecar container or a host without Python. It speaks RESP2, so any
// Redis client can talk to it. Its options are those of
// `tiny-mp-cache serve` (tests/test_cli.py holds the two lists equal).
//
//	tiny-mp-cache-server --port 5002
//	tiny-mp-cache-server --unix /run/cache.sock --max-memory 512MB
//	tiny-mp-cache-server --version
//
// Options that have no flag (max_bulk, busy_reply_threshold, ...) come,
// with any others, as the JSON object of the server's Config in
// $TINY_MP_CACHE_SERVE_OPTIONS, as `tiny-mp-cache serve` takes them (so
// that a password does not show in `ps`); a flag given overrides it. This
// is how the Python package's serve() runs this program where it ships it
// instead of the Go library (the musllinux wheels).
//
// It exits 0 when stopped by SIGINT or SIGTERM, 1 when the server cannot
// start (the address is taken, not permitted, ...), 2 on a usage error,
// which includes an option value the server refuses.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/tiny-mp-cache/tiny-mp-cache/internal/procs"
	"github.com/tiny-mp-cache/tiny-mp-cache/server"
)

const prog = "tiny-mp-cache-server"

// optionsEnv holds server options as JSON (tiny_mp_cache/_server.py's OPTIONS_ENV).
const optionsEnv = "TINY_MP_CACHE_SERVE_OPTIONS"

func main() {
	procs.AtLeastTwo()
	var (
		cfg       server.Config
		port      = flag.Int("port", 0, "listen on TCP HOST:PORT (0: any free port)")
		host      = flag.String("host", "127.0.0.1", "TCP host to bind")
		unix      = flag.String("unix", "", "listen on a unix socket at `PATH`")
		maxMemory = flag.String("max-memory", "0", "bound the memory for keys and values: bytes, or \"64MB\", \"2GB\" (0: no bound)")
		unixMode  = flag.String("unix-mode", "600", "permissions of the unix socket file, in `OCTAL`")
		quiet     = flag.Bool("quiet", false, "do not print the listening address")
		readyFD   = flag.Int("ready-fd", -1, "once listening, write the address (a TinyCache address, one line) to this inherited file descriptor `FD` and close it")
		stdinEOF  = flag.Bool("stop-on-stdin-eof", false, "stop (as on SIGTERM) once standard input reaches its end: a pipe whose writers have all exited")
	)
	flag.StringVar(&cfg.Password, "password", os.Getenv("TINY_MP_CACHE_PASSWORD"), "require AUTH with this password (default $TINY_MP_CACHE_PASSWORD)")
	flag.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a non-loopback --host without --password")
	flag.StringVar(&cfg.EvictionPolicy, "eviction-policy", "sieve", "at the --max-memory bound, evict keys with sieve, or refuse writes with an OOM error (noeviction)")
	flag.IntVar(&cfg.MaxClients, "max-clients", server.DefaultMaxClients, "maximum number of connected clients")
	flag.IntVar(&cfg.MaxQuery, "max-query", 0, "most `BYTES` one request may take; a client over it is disconnected (0: 1 GiB)")
	flag.IntVar(&cfg.MaxOutput, "max-output", 0, "most reply `BYTES` waiting for one client; a command over it disconnects the client (0: 1 GiB)")
	flag.IntVar(&cfg.MaxOutputSoft, "max-output-soft", 0, "a client that leaves more reply `BYTES` than this unread for --max-output-soft-seconds is disconnected (0: 64 MiB; --max-output or more: never)")
	flag.IntVar(&cfg.MaxOutputSoftSeconds, "max-output-soft-seconds", 0, "how long a client may stay past --max-output-soft (0: 60)")
	flag.StringVar(&cfg.LogLevel, "log-level", "warn", "what the server logs to stderr: debug, info, warn (quiet in normal operation) or error")
	flag.IntVar(&cfg.Loops, "loops", 0, "event loops serving clients, each on a thread of its own (0: one per usable CPU)")
	version := flag.Bool("version", false, "print the version and exit")
	// The JSON options first, over the flags' defaults; the flags parsed next override them.
	if opts := os.Getenv(optionsEnv); opts != "" {
		os.Unsetenv(optionsEnv)
		dec := json.NewDecoder(strings.NewReader(opts))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			fail(2, "$"+optionsEnv+": bad server options: "+err.Error())
		}
	}
	// Help goes to stdout and exits 0; a usage error says what, on stderr, and exits 2.
	flag.CommandLine.Init(prog, flag.ContinueOnError)
	flag.Usage = func() {}
	switch err := flag.CommandLine.Parse(os.Args[1:]); {
	case err == flag.ErrHelp:
		usage(os.Stdout)
		return
	case err != nil:
		fmt.Fprintf(os.Stderr, "usage: %s (--port PORT | --unix PATH) [options]; --help lists them\n", prog)
		os.Exit(2)
	}
	if *version {
		fmt.Println(prog, server.Version) // tests/test_packaging.py holds it equal to the Python package's
		return
	}
	if flag.NArg() > 0 {
		fail(2, "unrecognized arguments: "+strings.Join(flag.Args(), " "))
	}
	given := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { given[f.Name] = true })

	switch {
	case given["unix"] && given["port"]:
		fail(2, "give --port or --unix, not both")
	case given["unix"]:
		cfg.Network, cfg.Addr = "unix", *unix
	case given["port"] && *port >= 0 && *port < 65536:
		cfg.Network, cfg.Addr = "tcp", net.JoinHostPort(*host, strconv.Itoa(*port))
	default:
		fail(2, "give --port N (0-65535; 0: any free port) or --unix PATH")
	}
	if given["max-memory"] {
		mm, err := server.ParseByteSize(*maxMemory)
		if err != nil {
			fail(2, "--max-memory: "+err.Error())
		}
		cfg.MaxMemory = mm
	}
	if given["unix-mode"] {
		mode, err := strconv.ParseUint(*unixMode, 8, 32)
		if err != nil {
			fail(2, "--unix-mode: not an octal mode: "+*unixMode)
		}
		cfg.UnixMode = uint32(mode)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s, err := server.Listen(cfg)
	var cerr *server.ConfigError
	switch {
	case errors.As(err, &cerr):
		fail(2, err.Error())
	case err != nil:
		fail(1, err.Error())
	}
	addr := s.Addr().String() // what a client is given
	if cfg.Network == "unix" {
		addr = "unix://" + cfg.Addr
	}
	if !*quiet {
		fmt.Fprintf(os.Stderr, "%s: serving on %s (pid %d); Ctrl-C to stop\n", prog, addr, os.Getpid())
	}
	if *readyFD >= 0 {
		ready := os.NewFile(uintptr(*readyFD), "ready-fd")
		_, err := io.WriteString(ready, addr+"\n")
		ready.Close()
		if err != nil {
			s.Close()
			fail(1, "--ready-fd: "+err.Error())
		}
	}
	if *stdinEOF {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			sig <- syscall.SIGTERM
		}()
	}
	closed := make(chan struct{})
	go func() {
		<-sig
		s.Close()
		close(closed)
	}()
	s.Serve()
	<-closed
}

// usage prints the options as `tiny-mp-cache serve --help` names them: --long-flags.
func usage(out io.Writer) {
	fmt.Fprintf(out, "usage: %s (--port PORT | --unix PATH) [options]\n\noptions:\n  -h, --help\n    \tshow this help and exit\n", prog)
	flag.VisitAll(func(f *flag.Flag) {
		value, text := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if value != "" {
			name += " " + strings.ToUpper(value)
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "-1" && !strings.Contains(text, "(default") {
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(out, "  %s\n    \t%s\n", name, text)
	})
}

func fail(code int, msg string) {
	fmt.Fprintln(os.Stderr, prog+":", msg)
	os.Exit(code)
}
