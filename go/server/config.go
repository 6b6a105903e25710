package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/internal/procs"
	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// Config says where and how a server listens. The JSON names are the
// keyword arguments of Python's serve() and serve_unix().
type Config struct {
	// Network is "tcp" or "unix".
	Network string `json:"network"`
	// Addr is "host:port" for tcp and a file path for unix.
	Addr string `json:"addr"`
	// Password, when set, must be given with AUTH before any other command.
	Password string `json:"password"`
	// AllowRemote permits a tcp bind to a non-loopback address without a
	// password, which is otherwise refused (like Redis's protected mode).
	AllowRemote bool `json:"allow_remote"`
	// UnixMode is the permission of the socket file; 0 means 0600.
	UnixMode uint32 `json:"unix_mode"`
	// MaxClients is the most connections served at once; more are refused.
	MaxClients int `json:"max_clients"`
	// MaxBulk, MaxArgs, MaxInline and MaxQuery bound one request; see
	// resp.Limits. Zero means the default.
	MaxBulk   int `json:"max_bulk"`
	MaxArgs   int `json:"max_args"`
	MaxInline int `json:"max_inline"`
	MaxQuery  int `json:"max_query"`
	// MaxOutput bounds the reply bytes one client may have waiting to be
	// written: a command whose reply leaves more unsent closes the
	// connection, as Redis's client-output-buffer-limit does. The loop runs
	// no further commands for a client while 64 KiB of replies wait, so
	// this is in effect the biggest reply one command may make. Zero means
	// DefaultMaxOutput.
	MaxOutput int `json:"max_output"`
	// MaxOutputSoft and MaxOutputSoftSeconds are the soft limit of Redis's
	// client-output-buffer-limit: a client that leaves more than
	// MaxOutputSoft reply bytes unread for MaxOutputSoftSeconds on end is
	// closed, so that one stalled client cannot hold a huge reply forever.
	// Zero means DefaultMaxOutputSoft and DefaultMaxOutputSoftSeconds; a
	// soft limit of MaxOutput or more never applies.
	MaxOutputSoft        int `json:"max_output_soft"`
	MaxOutputSoftSeconds int `json:"max_output_soft_seconds"`
	// MaxOutputPubsub, MaxOutputPubsubSoft and MaxOutputPubsubSoftSeconds
	// are the same limits for a client subscribed to a channel or pattern,
	// Redis's client-output-buffer-limit pubsub class: a subscriber that
	// reads its messages too slowly is closed rather than letting them pile
	// up in the server. Zero means Redis's 32 MiB, 8 MiB and 60 seconds.
	MaxOutputPubsub            int `json:"max_output_pubsub"`
	MaxOutputPubsubSoft        int `json:"max_output_pubsub_soft"`
	MaxOutputPubsubSoftSeconds int `json:"max_output_pubsub_soft_seconds"`
	// MaxMemory bounds the memory the store accounts for (keys, values and
	// per-entry overhead): a number of bytes or a string such as "512MB".
	// 0 means no bound.
	MaxMemory ByteSize `json:"max_memory"`
	// EvictionPolicy is "sieve" (the default): when MaxMemory is reached,
	// evict keys by SIEVE; or "noeviction": refuse writes with an OOM error.
	EvictionPolicy string `json:"eviction_policy"`
	// LogLevel is "debug", "info", "warn" (the default) or "error".
	LogLevel string `json:"log_level"`
	// LogFD, when not 0, is an open file descriptor (a HANDLE on Windows)
	// to write the log to as JSON lines instead of text on stderr: Python's
	// serve() gives a pipe it reads into its logging module. The server
	// writes to a duplicate of it, which Close closes last.
	LogFD int `json:"log_fd"`
	// TrackingMaxKeys bounds CLIENT TRACKING's table of keys read by
	// tracking clients, as Redis's tracking-table-max-keys does: past it,
	// keys are dropped from the table and their readers told to forget
	// them. Zero means DefaultTrackingMaxKeys.
	TrackingMaxKeys int `json:"tracking_table_max_keys"`
	// Loops is how many event loops serve clients, each on its own thread
	// with the connections handed to it; zero means one per CPU the
	// process may use. Commands still run one at a time (see
	// Server.running). The portable loop ignores it.
	Loops int `json:"loops"`
	// BusyReplyThreshold is how long, in milliseconds, a script runs before
	// other clients' commands get -BUSY and SCRIPT KILL may stop it, as
	// Redis's busy-reply-threshold (lua-time-limit). Zero means
	// DefaultBusyReplyThreshold.
	BusyReplyThreshold int `json:"busy_reply_threshold"`
	// ScriptMaxMemory bounds how much one script may grow the server's live
	// heap (tables and strings it builds) before it is stopped with an
	// error. Zero means DefaultScriptMaxMemory.
	ScriptMaxMemory ByteSize `json:"script_max_memory"`
}

// DefaultTrackingMaxKeys is Config.TrackingMaxKeys when it is 0: Redis's
// default.
const DefaultTrackingMaxKeys = 1_000_000

// DefaultMaxClients is the connection limit when Config.MaxClients is 0.
const DefaultMaxClients = 10000

// DefaultMaxOutput is Config.MaxOutput when it is 0: twice the default
// max_bulk, so a GET of any value within it can always be answered.
const DefaultMaxOutput = 1 << 30

// DefaultMaxOutputSoft and DefaultMaxOutputSoftSeconds are the soft output
// limit when Config.MaxOutputSoft and MaxOutputSoftSeconds are 0. A client
// that reads a reply of n bytes keeps to it if it reads at least
// (n - 64 MiB) / 60 s: 7.5 MiB/s for the biggest value (512 MiB), 16 MiB/s
// for a reply of max_output's 1 GiB, where the loopback and unix sockets
// the server is made for move gigabytes a second. One that falls behind
// that is stalled, and no longer pins the memory of its replies. (Redis's
// pubsub class: 8 MiB for 60 s.)
const (
	DefaultMaxOutputSoft        = 64 << 20
	DefaultMaxOutputSoftSeconds = 60
)

// The pubsub class's output limits when Config's fields are 0: Redis's
// client-output-buffer-limit pubsub 32mb 8mb 60.
const (
	DefaultMaxOutputPubsub            = 32 << 20
	DefaultMaxOutputPubsubSoft        = 8 << 20
	DefaultMaxOutputPubsubSoftSeconds = 60
)

// withDefaults returns c with zero fields set to their defaults, or an error
// that names the first invalid field.
func (c Config) withDefaults() (Config, error) {
	switch c.Network {
	case "tcp", "unix":
	default:
		return c, fmt.Errorf("network must be \"tcp\" or \"unix\", not %q", c.Network)
	}
	if c.Addr == "" {
		return c, fmt.Errorf("addr is empty")
	}
	if c.UnixMode == 0 {
		c.UnixMode = 0o600
	}
	if c.UnixMode > 0o777 {
		return c, fmt.Errorf("unix_mode %o is not a permission mode", c.UnixMode)
	}
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	d := resp.DefaultLimits
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"max_bulk", &c.MaxBulk, d.MaxBulk},
		{"max_args", &c.MaxArgs, d.MaxArgs},
		{"max_inline", &c.MaxInline, d.MaxInline},
		{"max_query", &c.MaxQuery, d.MaxQuery},
		{"max_clients", &c.MaxClients, DefaultMaxClients},
		{"max_output", &c.MaxOutput, DefaultMaxOutput},
		{"max_output_soft", &c.MaxOutputSoft, DefaultMaxOutputSoft},
		{"max_output_soft_seconds", &c.MaxOutputSoftSeconds, DefaultMaxOutputSoftSeconds},
		{"max_output_pubsub", &c.MaxOutputPubsub, DefaultMaxOutputPubsub},
		{"max_output_pubsub_soft", &c.MaxOutputPubsubSoft, DefaultMaxOutputPubsubSoft},
		{"max_output_pubsub_soft_seconds", &c.MaxOutputPubsubSoftSeconds, DefaultMaxOutputPubsubSoftSeconds},
		{"tracking_table_max_keys", &c.TrackingMaxKeys, DefaultTrackingMaxKeys},
		{"loops", &c.Loops, procs.Usable()},
		{"busy_reply_threshold", &c.BusyReplyThreshold, DefaultBusyReplyThreshold},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("%s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	switch c.EvictionPolicy {
	case "":
		c.EvictionPolicy = "sieve"
	case "sieve", "noeviction":
	default:
		return c, fmt.Errorf("eviction_policy must be \"sieve\" or \"noeviction\", not %q", c.EvictionPolicy)
	}
	if c.MaxMemory < 0 {
		return c, fmt.Errorf("max_memory must not be negative")
	}
	switch {
	case c.ScriptMaxMemory < 0:
		return c, fmt.Errorf("script_max_memory must not be negative")
	case c.ScriptMaxMemory == 0:
		c.ScriptMaxMemory = DefaultScriptMaxMemory
	}
	if _, err := c.logLevel(); err != nil {
		return c, err
	}
	if c.LogFD < 0 {
		return c, fmt.Errorf("log_fd must not be negative")
	}
	if c.Network == "tcp" && c.Password == "" && !c.AllowRemote {
		host, _, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return c, fmt.Errorf("addr %q: %v", c.Addr, err)
		}
		if !isLoopback(host) {
			return c, fmt.Errorf("refusing to listen on %s without a password: "+
				"anyone who can reach it could read and change the cache; "+
				"set password, or allow_remote=True if that is what you want", c.Addr)
		}
	}
	return c, nil
}

// logLevel is LogLevel as slog's level: warn if empty.
func (c Config) logLevel() (slog.Level, error) {
	switch strings.ToLower(c.LogLevel) {
	case "", "warn", "warning":
		return slog.LevelWarn, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log_level must be debug, info, warn or error, not %q", c.LogLevel)
}

// softOutput is how long a client may leave more than max_output_soft
// reply bytes unread, and that bound; 0 if the soft limit never applies.
func (c Config) softOutput() (time.Duration, int) {
	return softLimit(c.MaxOutput, c.MaxOutputSoft, c.MaxOutputSoftSeconds)
}

// softLimit is a class's soft limit: none if it is not below the hard one.
func softLimit(hard, soft, seconds int) (time.Duration, int) {
	if soft >= hard {
		return 0, 0
	}
	return time.Duration(seconds) * time.Second, soft
}

func (c Config) limits() resp.Limits {
	return resp.Limits{MaxBulk: c.MaxBulk, MaxArgs: c.MaxArgs, MaxInline: c.MaxInline, MaxQuery: c.MaxQuery}
}

// readLimits are the limits a client's commands are read with: until it
// has authenticated, only small commands.
func (c Config) readLimits(authed bool) resp.Limits {
	if !authed {
		return c.limits().BeforeAuth()
	}
	return c.limits()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ByteSize is a number of bytes, written in JSON as a number or as a string
// with an optional unit: "512MB", "1.5GiB", "100kb".
type ByteSize int64

// ParseByteSize parses "123", "64KB", "512MB", "2GiB" and the like. Units
// are powers of 1024, as in Redis's configuration.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"tb", 1 << 40},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
	} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%q is not a size such as 536870912, \"512MB\" or \"2GB\"", s)
	}
	return ByteSize(f * float64(mult)), nil
}

// UnmarshalJSON accepts a number of bytes or a string with a unit.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	var n int64
	if err := json.Unmarshal(data, &n); err == nil {
		*b = ByteSize(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("max_memory must be a number of bytes or a string such as \"512MB\"")
	}
	v, err := ParseByteSize(s)
	*b = v
	return err
}

// cmdConfig is CONFIG GET pattern [pattern ...], CONFIG SET parameter value
// [parameter value ...] and CONFIG RESETSTAT, over the parameters in params.
func cmdConfig(c *conn, args [][]byte, out []byte) []byte {
	switch sub := args[1]; {
	case is(sub, "GET") && len(args) >= 3:
		var found []*param
		for i := range params {
			for _, pattern := range args[2:] {
				if store.Match(strings.ToLower(string(pattern)), params[i].name) {
					found = append(found, &params[i])
					break
				}
			}
		}
		out = c.appendMap(out, len(found))
		for _, p := range found {
			out = resp.AppendBulkString(out, p.name)
			out = resp.AppendBulkString(out, p.get(c.s))
		}
		return out
	case is(sub, "SET") && len(args) >= 4 && len(args)%2 == 0:
		// Check every value before changing anything, as Redis does.
		var apply []func()
		for i := 2; i < len(args); i += 2 {
			name := strings.ToLower(string(args[i]))
			p := findParam(name)
			if p == nil {
				return resp.AppendError(out, "ERR Unknown option or number of arguments for CONFIG SET - '"+printable(args[i])+"'")
			}
			if p.set == nil {
				return resp.AppendError(out, "ERR CONFIG SET failed (possibly related to argument '"+name+"') - can't set immutable config")
			}
			f, err := p.set(c.s, string(args[i+1]))
			if err != nil {
				return resp.AppendError(out, "ERR CONFIG SET failed (possibly related to argument '"+name+"') - "+err.Error())
			}
			apply = append(apply, f)
		}
		for _, f := range apply {
			f()
		}
		return resp.AppendSimple(out, "OK")
	case is(sub, "RESETSTAT") && len(args) == 2:
		c.s.stats.reset()
		c.s.store.ResetStats()
		return resp.AppendSimple(out, "OK")
	}
	return resp.AppendError(out, "ERR unknown subcommand or wrong number of arguments for 'config|"+strings.ToLower(printable(args[1]))+"'")
}

// A param is a parameter of CONFIG GET and CONFIG SET, under Redis's name.
// Every value it reports is true of this server.
type param struct {
	name string
	get  func(s *Server) string
	// set, for the parameters that may change while the server runs, checks
	// a value and returns what applies it.
	set func(s *Server, v string) (func(), error)
}

// params are the CONFIG parameters, in name order.
var params = []param{
	{name: "appendonly", get: fixed("no")},
	{name: "bind", get: func(s *Server) string {
		if a, ok := s.Addr().(*net.TCPAddr); ok {
			return a.IP.String()
		}
		return ""
	}},
	{name: "busy-reply-threshold", get: (*Server).busyReplyThreshold, set: setBusyReplyThreshold},
	{name: "client-output-buffer-limit", get: func(s *Server) string {
		return fmt.Sprintf("normal %d %d %d pubsub %d %d %d", s.cfg.MaxOutput, s.cfg.MaxOutputSoft, s.cfg.MaxOutputSoftSeconds,
			s.cfg.MaxOutputPubsub, s.cfg.MaxOutputPubsubSoft, s.cfg.MaxOutputPubsubSoftSeconds)
	}},
	{name: "client-query-buffer-limit", get: func(s *Server) string { return strconv.Itoa(s.cfg.MaxQuery) }},
	{name: "cluster-enabled", get: fixed("no")},
	{name: "databases", get: fixed("1")},
	{name: "hz", get: fixed(strconv.Itoa(int(time.Second / expireTick)))},
	{name: "io-threads", get: fixed("1")},
	{name: "lua-time-limit", get: (*Server).busyReplyThreshold, set: setBusyReplyThreshold},
	{name: "maxclients", get: func(s *Server) string { return strconv.Itoa(s.cfg.MaxClients) }},
	{name: "maxmemory", get: func(s *Server) string { return strconv.FormatInt(int64(s.cfg.MaxMemory), 10) },
		set: func(s *Server, v string) (func(), error) {
			n, err := ParseByteSize(v)
			if err != nil {
				return nil, err
			}
			return func() { s.setMemoryLimit(n, s.cfg.EvictionPolicy) }, nil
		}},
	{name: "maxmemory-policy", get: (*Server).policy,
		set: func(s *Server, v string) (func(), error) {
			var policy string
			switch strings.ToLower(v) {
			case "allkeys-sieve":
				policy = "sieve"
			case "noeviction":
				policy = "noeviction"
			default:
				return nil, fmt.Errorf("tiny-mp-cache's policies are allkeys-sieve and noeviction")
			}
			return func() { s.setMemoryLimit(s.cfg.MaxMemory, policy) }, nil
		}},
	{name: "notify-keyspace-events", get: fixed("")},
	{name: "port", get: func(s *Server) string {
		if a, ok := s.Addr().(*net.TCPAddr); ok {
			return strconv.Itoa(a.Port)
		}
		return "0"
	}},
	{name: "protected-mode", get: func(s *Server) string { return yesNo(!s.cfg.AllowRemote) }},
	{name: "proto-max-bulk-len", get: func(s *Server) string { return strconv.Itoa(s.cfg.MaxBulk) }},
	{name: "requirepass", get: func(s *Server) string { return s.cfg.Password }},
	{name: "save", get: fixed("")},
	{name: "timeout", get: fixed("0")}, // idle clients are never closed
	{name: "unixsocket", get: func(s *Server) string {
		if s.cfg.Network == "unix" {
			return s.cfg.Addr
		}
		return ""
	}},
	{name: "unixsocketperm", get: func(s *Server) string {
		if s.cfg.Network == "unix" {
			return strconv.FormatUint(uint64(s.cfg.UnixMode), 8)
		}
		return "0"
	}},
}

func (s *Server) busyReplyThreshold() string { return strconv.Itoa(s.cfg.BusyReplyThreshold) }

func setBusyReplyThreshold(s *Server, v string) (func(), error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("busy-reply-threshold must be a positive number of milliseconds")
	}
	return func() { s.cfg.BusyReplyThreshold = n }, nil
}

func findParam(name string) *param {
	for i := range params {
		if params[i].name == name {
			return &params[i]
		}
	}
	return nil
}

func fixed(v string) func(*Server) string { return func(*Server) string { return v } }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// policy is the eviction policy in effect, as CONFIG GET maxmemory-policy
// and INFO report it: without a bound nothing is evicted.
func (s *Server) policy() string {
	if s.cfg.MaxMemory == 0 || s.cfg.EvictionPolicy == "noeviction" {
		return "noeviction"
	}
	return "allkeys-sieve"
}

// setMemoryLimit changes the store's bound and eviction policy (and the Go
// runtime's memory limit with them). It runs on the loop, or before Serve.
func (s *Server) setMemoryLimit(max ByteSize, policy string) {
	s.cfg.MaxMemory, s.cfg.EvictionPolicy = max, policy
	s.store.SetLimit(int64(max), policy == "noeviction")
	s.slabs.setKeep(int64(max))
	limit := int64(math.MaxInt64)
	if max > 0 {
		// Make the collector work harder as the heap nears the bound, so
		// the process's resident memory tracks what the store accounts.
		limit = int64(max) + int64(max)/4 + memoryLimitSlack
	}
	debug.SetMemoryLimit(limit)
}
