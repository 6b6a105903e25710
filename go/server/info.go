package server

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// redisVersion is what INFO and HELLO report. Clients such as redis-py and
// redis-benchmark check it to decide which commands they may use; we
// implement the 7.x forms of everything we support.
const redisVersion = "7.2.0"

// Version is tiny-mp-cache's own version.
const Version = "0.1.0"

// cmdInfo is INFO [section ...], in Redis's "key:value" text format.
func cmdInfo(c *conn, args [][]byte, out []byte) []byte {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["all"] || want["everything"] || want["default"]
	var b strings.Builder
	for _, sec := range c.s.info() {
		if !all && !want[strings.ToLower(sec.name)] {
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
	fields []infoField
}

// info gathers the server's state and counters by INFO section.
func (s *Server) info() []infoSection {
	st := s.store.Stats()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	port := 0
	if s.cfg.Network == "tcp" {
		fmt.Sscanf(s.Addr().String()[strings.LastIndex(s.Addr().String(), ":")+1:], "%d", &port)
	}
	policy := "allkeys-sieve"
	if s.cfg.EvictionPolicy == "noeviction" || s.cfg.MaxMemory == 0 {
		policy = "noeviction"
	}
	uptime := time.Since(s.started)
	keyspace := []infoField{}
	if st.Keys > 0 {
		keyspace = append(keyspace, infoField{"db0", fmt.Sprintf("keys=%d,expires=%d,avg_ttl=0", st.Keys, st.Expiring)})
	}
	return []infoSection{
		{"Server", []infoField{
			{"redis_version", redisVersion},
			{"tiny_mp_cache_version", Version},
			{"redis_mode", "standalone"},
			{"os", runtime.GOOS + " " + runtime.GOARCH},
			{"process_id", os.Getpid()},
			{"tcp_port", port},
			{"uptime_in_seconds", int64(uptime.Seconds())},
			{"uptime_in_days", int64(uptime.Hours() / 24)},
		}},
		{"Clients", []infoField{
			{"connected_clients", s.Clients()},
			{"maxclients", s.cfg.MaxClients},
			{"blocked_clients", 0},
		}},
		{"Memory", []infoField{
			{"used_memory", st.UsedMemory},
			{"used_memory_human", humanBytes(st.UsedMemory)},
			{"used_memory_rss", residentBytes()},
			{"used_memory_rss_human", humanBytes(residentBytes())},
			{"maxmemory", st.MaxMemory},
			{"maxmemory_human", humanBytes(st.MaxMemory)},
			{"maxmemory_policy", policy},
			{"go_heap_alloc", int64(ms.HeapAlloc)},
		}},
		{"Stats", []infoField{
			{"total_connections_received", s.connsReceived.Load()},
			{"total_commands_processed", s.commandsProcessed.Load()},
			{"rejected_connections", s.connsRejected.Load()},
			{"expired_keys", st.Expirations},
			{"evicted_keys", st.Evictions},
			{"keyspace_hits", st.Hits},
			{"keyspace_misses", st.Misses},
			{"popped_values", st.Pops},
		}},
		{"Keyspace", keyspace},
	}
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
