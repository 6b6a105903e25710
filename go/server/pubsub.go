package server

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// pubsub is the server's table of subscriptions: who listens on each
// channel, and who on each pattern. It is guarded by Server.running, like
// every command's state: SUBSCRIBE, PUBLISH and a client's hang-up change
// or read it one at a time, on whichever loop.
//
// PUBLISH sends each subscriber its message as a push (pushBatch, the way
// CLIENT TRACKING's invalidations go): at once to a client on the
// publisher's loop, posted to the loop of any other. A subscriber that
// reads too slowly is closed at the pubsub class's output limits
// (Config.MaxOutputPubsub), taking its subscriptions with it.
type pubsub struct {
	channels map[string]map[*conn]struct{}
	patterns map[string]map[*conn]struct{}
	shard    map[string]map[*conn]struct{} // SSUBSCRIBE's channels, a namespace of their own (shardpubsub.go)
}

// subscriptions are one client's channels and patterns (guarded by
// Server.running), and their count, which the output limits read from the
// client's loop without the lock.
type subscriptions struct {
	channels map[string]struct{}
	patterns map[string]struct{}
	shard    map[string]struct{}
	n        atomic.Int32
}

func newSubscriptions() *subscriptions {
	return &subscriptions{channels: make(map[string]struct{}), patterns: make(map[string]struct{}), shard: make(map[string]struct{})}
}

func newPubsub() *pubsub {
	return &pubsub{channels: make(map[string]map[*conn]struct{}), patterns: make(map[string]map[*conn]struct{}), shard: make(map[string]map[*conn]struct{})}
}

// subscribed reports whether c listens on any channel or pattern: it is
// then of Redis's pubsub client class, and in RESP2 in subscriber mode.
func (c *conn) subscribed() bool { return c.sub != nil && c.sub.n.Load() > 0 }

// maxOutput is the hard output limit of c's client class.
func (c *conn) maxOutput() int {
	if c.subscribed() {
		return c.s.cfg.MaxOutputPubsub
	}
	return c.s.cfg.MaxOutput
}

// softOutput is the soft output limit of c's client class: how long c may
// leave more than the bound unread; 0 if none applies.
func (c *conn) softOutput() (time.Duration, int) {
	if c.subscribed() {
		cfg := c.s.cfg
		return softLimit(cfg.MaxOutputPubsub, cfg.MaxOutputPubsubSoft, cfg.MaxOutputPubsubSoftSeconds)
	}
	return c.s.cfg.softOutput()
}

// refusedInSubscriberMode reports whether c is in RESP2's subscriber mode
// and the command named lower is not one of the few it allows.
func (c *conn) refusedInSubscriberMode(lower []byte) bool {
	if c.resp3 || !c.subscribed() {
		return false
	}
	switch string(lower) {
	case "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping", "quit", "reset":
		return false
	}
	return true
}

// errSubscriberMode is Redis 7's reply to any other command in RESP2's
// subscriber mode; name is the command (container|subcommand) in lower case.
func errSubscriberMode(name string) string {
	return "ERR Can't execute '" + name + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
}

// fullName is the name Redis gives a command in errors: container
// commands with their subcommand, as pubsub|numsub.
func fullName(lower []byte, args [][]byte) string {
	switch string(lower) {
	case "pubsub", "client", "config", "command":
		if len(args) > 1 {
			return string(lower) + "|" + strings.ToLower(printable(args[1]))
		}
	}
	return string(lower)
}

// appendPushHeader starts a pub/sub reply or message of n elements: a
// RESP3 push, or in RESP2 an array.
func appendPushHeader(out []byte, resp3 bool, n int) []byte {
	if resp3 { // >n, as tracking.go's invalidations
		out = strconv.AppendInt(append(out, '>'), int64(n), 10)
		return append(out, '\r', '\n')
	}
	return resp.AppendArray(out, n)
}

// appendSubReply appends one (un)subscription's confirmation: kind, the
// channel or pattern (null for an unsubscription from nothing) and how
// many c still has.
func (c *conn) appendSubReply(out []byte, kind string, name []byte, count int) []byte {
	out = appendPushHeader(out, c.resp3, 3)
	out = resp.AppendBulkString(out, kind)
	if name == nil {
		out = c.appendNull(out)
	} else {
		out = resp.AppendBulk(out, name)
	}
	return resp.AppendInt(out, int64(count))
}

// countFor is the count an (un)subscription of kind confirms, as Redis's:
// c's shard channels for SSUBSCRIBE and SUNSUBSCRIBE, its channels and
// patterns for the others.
func (sub *subscriptions) countFor(kind string) int {
	if kind == "ssubscribe" || kind == "sunsubscribe" {
		return len(sub.shard)
	}
	return len(sub.channels) + len(sub.patterns)
}

// tables are the server's table and c's own set that an (un)subscription
// of kind changes.
func (c *conn) tables(kind string) (map[string]map[*conn]struct{}, map[string]struct{}) {
	ps := c.s.pubsub
	switch kind {
	case "psubscribe", "punsubscribe":
		return ps.patterns, c.sub.patterns
	case "ssubscribe", "sunsubscribe":
		return ps.shard, c.sub.shard
	}
	return ps.channels, c.sub.channels
}

// count is how many channels, patterns and shard channels c listens on.
func (sub *subscriptions) count() int { return len(sub.channels) + len(sub.patterns) + len(sub.shard) }

// subscribe adds c to table[name] and name to mine, unless it is there.
func (c *conn) subscribe(table map[string]map[*conn]struct{}, mine map[string]struct{}, name []byte) {
	if _, ok := mine[string(name)]; ok {
		return
	}
	key := string(name)
	mine[key] = struct{}{}
	subs := table[key]
	if subs == nil {
		subs = make(map[*conn]struct{})
		table[key] = subs
	}
	subs[c] = struct{}{}
	c.sub.n.Store(int32(c.sub.count()))
}

// unsubscribe removes c from table[name] and name from mine.
func (c *conn) unsubscribe(table map[string]map[*conn]struct{}, mine map[string]struct{}, name string) {
	if _, ok := mine[name]; !ok {
		return
	}
	delete(mine, name)
	if subs := table[name]; subs != nil {
		delete(subs, c)
		if len(subs) == 0 {
			delete(table, name)
		}
	}
	c.sub.n.Store(int32(c.sub.count()))
}

// cmdSubscribe is SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE: one confirmation
// per name.
func cmdSubscribe(c *conn, args [][]byte, out []byte) []byte {
	if c.sub == nil {
		c.sub = newSubscriptions()
	}
	c.loop.startPushing(c)
	kind := strings.ToLower(string(args[0]))
	table, mine := c.tables(kind)
	for _, name := range args[1:] {
		c.subscribe(table, mine, name)
		out = c.appendSubReply(out, kind, name, c.sub.countFor(kind))
	}
	return out
}

// cmdUnsubscribe is UNSUBSCRIBE, PUNSUBSCRIBE and SUNSUBSCRIBE: from the
// names given, or from all of c's channels (patterns, shard channels) if
// none is.
func cmdUnsubscribe(c *conn, args [][]byte, out []byte) []byte {
	kind := strings.ToLower(string(args[0]))
	if c.sub == nil {
		c.sub = newSubscriptions()
	}
	table, mine := c.tables(kind)
	names := args[1:]
	if len(names) == 0 {
		for name := range mine {
			names = append(names, []byte(name))
		}
		slices.SortFunc(names, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
		if len(names) == 0 {
			return c.appendSubReply(out, kind, nil, c.sub.countFor(kind))
		}
	}
	for _, name := range names {
		c.unsubscribe(table, mine, string(name))
		out = c.appendSubReply(out, kind, name, c.sub.countFor(kind))
	}
	return out
}

// unsubscribeAll drops all of c's subscriptions, when it hangs up or
// RESETs. Server.running must be held.
func (s *Server) unsubscribeAll(c *conn) {
	if c.sub == nil {
		return
	}
	for name := range c.sub.channels {
		c.unsubscribe(s.pubsub.channels, c.sub.channels, name)
	}
	for name := range c.sub.patterns {
		c.unsubscribe(s.pubsub.patterns, c.sub.patterns, name)
	}
	for name := range c.sub.shard {
		c.unsubscribe(s.pubsub.shard, c.sub.shard, name)
	}
}

// cmdPublish is PUBLISH channel message: each subscriber to the channel,
// then each to a pattern it matches, gets the message; the reply is how
// many got it. The message is encoded once for each protocol.
func cmdPublish(c *conn, args [][]byte, out []byte) []byte {
	channel, data := args[1], args[2]
	ps := c.s.pubsub
	b := pushBatch{from: c.loop, self: c, out: out}
	n := b.message(ps.channels[string(channel)], "message", channel, data)
	for pattern, subs := range ps.patterns {
		if !store.Match(pattern, string(channel)) {
			continue
		}
		var pmsg [2][]byte
		for to := range subs {
			i := b2i(to.resp3)
			if pmsg[i] == nil {
				m := appendPushHeader(nil, to.resp3, 4)
				m = resp.AppendBulkString(m, "pmessage")
				m = resp.AppendBulkString(m, pattern)
				m = resp.AppendBulk(m, channel)
				pmsg[i] = resp.AppendBulk(m, data)
			}
			p := b.bufFor(to)
			*p = append(*p, pmsg[i]...)
			n++
		}
	}
	b.send()
	return resp.AppendInt(b.out, int64(n))
}

// message adds kind (message, smessage) of data on channel for each of
// subs to b, encoded once for each protocol, and returns how many.
func (b *pushBatch) message(subs map[*conn]struct{}, kind string, channel, data []byte) int {
	var msg [2][]byte // RESP2's and RESP3's encoding
	for to := range subs {
		i := b2i(to.resp3)
		if msg[i] == nil {
			m := appendPushHeader(nil, to.resp3, 3)
			m = resp.AppendBulkString(m, kind)
			m = resp.AppendBulk(m, channel)
			msg[i] = resp.AppendBulk(m, data)
		}
		p := b.bufFor(to)
		*p = append(*p, msg[i]...)
	}
	return len(subs)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cmdPubsub is PUBSUB CHANNELS [pattern], NUMSUB [channel ...], NUMPAT,
// their SHARDCHANNELS and SHARDNUMSUB for shard channels, and HELP, with
// Redis's errors.
func cmdPubsub(c *conn, args [][]byte, out []byte) []byte {
	ps := c.s.pubsub
	sub := args[1]
	table := ps.channels
	if is(sub, "SHARDCHANNELS") || is(sub, "SHARDNUMSUB") {
		table = ps.shard
	}
	switch {
	case (is(sub, "CHANNELS") || is(sub, "SHARDCHANNELS")) && len(args) <= 3:
		var names []string
		for name := range table {
			if len(args) == 2 || store.Match(string(args[2]), name) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		out = resp.AppendArray(out, len(names))
		for _, name := range names {
			out = resp.AppendBulkString(out, name)
		}
		return out
	case is(sub, "NUMSUB") || is(sub, "SHARDNUMSUB"):
		out = resp.AppendArray(out, 2*(len(args)-2))
		for _, name := range args[2:] {
			out = resp.AppendBulk(out, name)
			out = resp.AppendInt(out, int64(len(table[string(name)])))
		}
		return out
	case is(sub, "NUMPAT") && len(args) == 2:
		n := 0
		for _, subs := range ps.patterns {
			n += len(subs) // Redis counts each client's pattern
		}
		return resp.AppendInt(out, int64(n))
	case is(sub, "HELP") && len(args) == 2:
		lines := []string{
			"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"CHANNELS [<pattern>]",
			"    Return the currently active channels matching a <pattern> (default: '*').",
			"NUMPAT",
			"    Return number of subscriptions to patterns.",
			"NUMSUB [<channel> ...]",
			"    Return the number of subscribers for the specified channels, excluding",
			"    pattern subscriptions(default: no channels).",
			"SHARDCHANNELS [<pattern>]",
			"    Return the currently active shard level channels matching a <pattern> (default: '*').",
			"SHARDNUMSUB [<shardchannel> ...]",
			"    Return the number of subscribers for the specified shard level channel(s)",
			"HELP",
			"    Prints this help.",
		}
		out = resp.AppendArray(out, len(lines))
		for _, l := range lines {
			out = resp.AppendSimple(out, l)
		}
		return out
	case is(sub, "CHANNELS"), is(sub, "SHARDCHANNELS"), is(sub, "NUMPAT"), is(sub, "HELP"):
		return resp.AppendError(out, "ERR unknown subcommand or wrong number of arguments for '"+printable(sub)+"'. Try PUBSUB HELP.")
	}
	return resp.AppendError(out, "ERR unknown subcommand '"+printable(sub)+"'. Try PUBSUB HELP.")
}
