package server

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// redisVersion is what INFO and HELLO report. Clients such as redis-py and
// redis-benchmark check it to decide which commands they may use; we
// implement the 7.x forms of everything we support. 7.4 is the first
// version whose client-side caching (CLIENT TRACKING, RESP3 invalidation
// pushes) redis-py's cache accepts, and we implement its default mode.
const redisVersion = "7.4.0"

// Version is tiny-mp-cache's own version.
const Version = "0.2.0"

// stats are the counters that INFO reports and CONFIG RESETSTAT zeroes.
type stats struct {
	// commands, errors and errorReplies are guarded by Server.running:
	// commands, INFO and RESETSTAT all run under it.
	commands     []commandStats   // by command id
	errors       map[string]int64 // error replies by code: "ERR", "WRONGTYPE"
	errorReplies int64

	// connections and rejected are counted by the acceptor.
	connections atomic.Int64 // clients accepted
	rejected    atomic.Int64 // clients refused: max_clients reached
}

// commandStats are one command's counters, as in INFO commandstats.
type commandStats struct {
	calls    int64 // times it ran
	nanos    int64 // time it ran for, in total
	rejected int64 // refused before running: arity, NOAUTH
	failed   int64 // ran and replied with an error
}

// maxErrorCodes bounds the error codes INFO errorstats tracks, as in Redis.
const maxErrorCodes = 128

func newStats() *stats {
	return &stats{commands: make([]commandStats, len(commandNames)), errors: map[string]int64{}}
}

// countError counts an error reply ("-CODE message\r\n") by its code.
func (st *stats) countError(reply []byte) {
	st.errorReplies++
	code := reply[1:]
	if i := bytes.IndexAny(code, " \r"); i >= 0 {
		code = code[:i]
	}
	if _, ok := st.errors[string(code)]; ok || len(st.errors) < maxErrorCodes {
		st.errors[string(code)]++
	}
}

// reset zeroes the counters, for CONFIG RESETSTAT. It runs on the loop.
func (st *stats) reset() {
	clear(st.commands)
	clear(st.errors)
	st.errorReplies = 0
	st.connections.Store(0)
	st.rejected.Store(0)
}

// cmdInfo is INFO [section ...], in Redis's "key:value" text format. With no
// section, or "default", it reports the sections Redis reports by default;
// "all" and "everything" add commandstats.
func cmdInfo(c *conn, args [][]byte, out []byte) []byte {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := want["all"] || want["everything"]
	byDefault := len(want) == 0 || want["default"]
	var b strings.Builder
	for _, sec := range c.s.info() {
		if !all && !want[strings.ToLower(sec.name)] && !(byDefault && !sec.extra) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "# %s\r\n", sec.name)
		for _, kv := range sec.fields {
			fmt.Fprintf(&b, "%s:%v\r\n", kv.k, kv.v)
		}
	}
	return resp.AppendBulkString(out, b.String())
}

type infoField struct {
	k string
	v any
}

type infoSection struct {
	name   string
	extra  bool // not in INFO's default sections
	fields []infoField
}

// info gathers the server's state and counters by INFO section.
func (s *Server) info() []infoSection {
	st := s.store.Stats()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	slabsUsed, slabsFree := s.slabs.stats()
	port := 0
	if a, ok := s.Addr().(interface{ AddrPort() netip.AddrPort }); ok {
		port = int(a.AddrPort().Port())
	}
	uptime := time.Since(s.started)
	keyspace := []infoField{}
	if st.Keys > 0 {
		keyspace = append(keyspace, infoField{"db0", fmt.Sprintf("keys=%d,expires=%d,avg_ttl=0", st.Keys, st.Expiring)})
	}
	blocked := s.blocked.Load()
	var calls int64
	var commandstats []infoField
	for id, cs := range s.stats.commands {
		calls += cs.calls
		if cs.calls+cs.rejected == 0 {
			continue
		}
		usec := cs.nanos / 1000
		perCall := 0.0
		if cs.calls > 0 {
			perCall = float64(cs.nanos) / 1000 / float64(cs.calls)
		}
		commandstats = append(commandstats, infoField{"cmdstat_" + commandNames[id],
			fmt.Sprintf("calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d",
				cs.calls, usec, perCall, cs.rejected, cs.failed)})
	}
	var errorstats []infoField
	for _, code := range sortedKeys(s.stats.errors) {
		errorstats = append(errorstats, infoField{"errorstat_" + code, fmt.Sprintf("count=%d", s.stats.errors[code])})
	}
	self, children := cpuUsage()
	return []infoSection{
		{name: "Server", fields: []infoField{
			{"redis_version", redisVersion},
			{"tiny_mp_cache_version", Version},
			{"redis_mode", "standalone"},
			{"os", runtime.GOOS + " " + runtime.GOARCH},
			{"arch_bits", strconv.IntSize},
			{"multiplexing_api", multiplexingAPI},
			{"go_version", runtime.Version()},
			{"process_id", os.Getpid()},
			{"run_id", s.runID},
			{"tcp_port", port},
			{"uptime_in_seconds", int64(uptime.Seconds())},
			{"uptime_in_days", int64(uptime.Hours() / 24)},
			{"hz", int(time.Second / expireTick)},
		}},
		{name: "Clients", fields: []infoField{
			{"connected_clients", s.Clients()},
			{"maxclients", s.cfg.MaxClients},
			{"blocked_clients", blocked},
			{"tracking_clients", len(s.tracking.clients)},
		}},
		{name: "Memory", fields: []infoField{
			{"used_memory", st.UsedMemory},
			{"used_memory_human", humanBytes(st.UsedMemory)},
			{"used_memory_rss", residentBytes()},
			{"used_memory_rss_human", humanBytes(residentBytes())},
			{"maxmemory", st.MaxMemory},
			{"maxmemory_human", humanBytes(st.MaxMemory)},
			{"maxmemory_policy", s.policy()},
			{"go_heap_alloc", int64(ms.HeapAlloc)},
			{"shared_slabs_used", slabsUsed},
			{"shared_slabs_free", slabsFree},
		}},
		{name: "Persistence", fields: []infoField{
			{"loading", 0},
			{"rdb_bgsave_in_progress", 0},
			{"aof_enabled", 0},
		}},
		{name: "Stats", fields: []infoField{
			{"total_connections_received", s.stats.connections.Load()},
			{"total_commands_processed", calls},
			{"rejected_connections", s.stats.rejected.Load()},
			{"expired_keys", st.Expirations},
			{"evicted_keys", st.Evictions},
			{"keyspace_hits", st.Hits},
			{"keyspace_misses", st.Misses},
			{"pubsub_channels", len(s.pubsub.channels)},
			{"pubsub_patterns", len(s.pubsub.patterns)},
			{"pubsubshard_channels", len(s.pubsub.shard)},
			{"popped_values", st.Pops},
			{"total_error_replies", s.stats.errorReplies},
			{"tracking_total_keys", s.tracking.size.Load()},
		}},
		{name: "Replication", fields: []infoField{
			{"role", "master"},
			{"connected_slaves", 0},
		}},
		{name: "CPU", fields: []infoField{
			{"used_cpu_sys", seconds(self.sys)},
			{"used_cpu_user", seconds(self.user)},
			{"used_cpu_sys_children", seconds(children.sys)},
			{"used_cpu_user_children", seconds(children.user)},
		}},
		{name: "Commandstats", extra: true, fields: commandstats},
		{name: "Errorstats", fields: errorstats},
		{name: "Cluster", fields: []infoField{
			{"cluster_enabled", 0},
		}},
		{name: "Keyspace", fields: keyspace},
	}
}

// seconds formats a CPU time as INFO does: seconds with six decimals.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%d.%06d", d/time.Second, d%time.Second/time.Microsecond)
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f, suffix := float64(n), "BKMGTP"
	i := 0
	for f >= unit && i < len(suffix)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.2f%c", f, suffix[i])
}

// residentBytes returns the process's resident set size, or the memory the
// Go runtime holds from the OS where /proc is not available.
func residentBytes() int64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, resident int64
		if _, err := fmt.Sscan(string(b), &size, &resident); err == nil {
			return resident * int64(os.Getpagesize())
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// cmdCommand answers COMMAND, COMMAND COUNT, COMMAND INFO and COMMAND DOCS
// well enough for clients that inspect the server on connect.
func cmdCommand(c *conn, args [][]byte, out []byte) []byte {
	switch {
	case len(args) == 1:
		out = resp.AppendArray(out, len(commands))
		for name, cmd := range commands {
			out = appendCommandInfo(out, name, cmd)
		}
		return out
	case is(args[1], "COUNT"):
		return resp.AppendInt(out, int64(len(commands)))
	case is(args[1], "INFO"):
		out = resp.AppendArray(out, len(args)-2)
		for _, a := range args[2:] {
			name := strings.ToLower(string(a))
			if cmd, ok := commands[name]; ok {
				out = appendCommandInfo(out, name, cmd)
			} else {
				out = c.appendNullArray(out)
			}
		}
		return out
	case is(args[1], "DOCS"):
		return resp.AppendArray(out, 0)
	}
	return resp.AppendError(out, "ERR unknown subcommand '"+printable(args[1])+"'")
}

// appendCommandInfo appends a command's entry in Redis 7's ten-field form;
// the last four (ACL categories, tips, key specifications, subcommands) are
// empty.
func appendCommandInfo(out []byte, name string, cmd *command) []byte {
	out = resp.AppendArray(out, 10)
	out = resp.AppendBulkString(out, name)
	out = resp.AppendInt(out, int64(cmd.arity))
	flags := cmd.flags
	if cmd.moreKeys != nil {
		flags = append(slices.Clip(flags), "movablekeys")
	}
	out = resp.AppendArray(out, len(flags))
	for _, f := range flags {
		out = resp.AppendSimple(out, f)
	}
	out = resp.AppendInt(out, int64(cmd.keys.first))
	out = resp.AppendInt(out, int64(cmd.keys.last))
	out = resp.AppendInt(out, int64(cmd.keys.step))
	for i := 0; i < 4; i++ {
		out = resp.AppendArray(out, 0)
	}
	return out
}

func cmdTime(c *conn, args [][]byte, out []byte) []byte {
	now := time.Now()
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, strconv.FormatInt(now.Unix(), 10))
	return resp.AppendBulkString(out, strconv.Itoa(now.Nanosecond()/1000))
}
