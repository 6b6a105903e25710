package server

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// tracking is CLIENT TRACKING in Redis's default mode: the server remembers
// which tracking clients read each key, and when the key changes it sends
// each of them one RESP3 push, ">2 invalidate [key]", and forgets them:
// a client is told once and must read the key again to be told again. A
// flush sends every tracking client ">2 invalidate _" (null: drop all).
//
// The store reports changes through its one notice of a changed key (the
// one that marks WATCHes), with the store locked, on a loop or on the
// background expiry goroutine. So the table has a lock of its
// own, and a change only queues invalidations; deliver sends them from a
// loop, after the reply to the command that made them.
//
// As in Redis, the table holds client ids, not connections: a client that
// disconnects or turns tracking off leaves its ids behind, and they are
// dropped when the key changes or is evicted from the table.
type tracking struct {
	max int // the most keys tracked; more evict keys, which invalidates them

	mu      sync.Mutex
	keys    map[string][]int64 // guarded by mu; tracked key → ids of clients that read it
	pending []invalidation     // guarded by mu; queued by changed, sent by deliver
	queued  atomic.Bool        // pending is not empty: one load per command when idle
	size    atomic.Int64       // len(keys): changed's check while nothing is tracked

	clients map[int64]*conn // tracking clients, by id; guarded by Server.running
}

// invalidation is one push to send: key to client id, or with all set, a
// null push to every tracking client.
type invalidation struct {
	id  int64
	key string
	all bool
}

func newTracking(max int) *tracking {
	return &tracking{max: max, keys: make(map[string][]int64), clients: make(map[int64]*conn)}
}

// remember records that client id read keys. Reads register before the
// command runs, so that no change between the read and the registration
// (a key expiring in the background) goes unreported.
func (t *tracking) remember(id int64, keys [][]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		ids, ok := t.keys[string(k)]
		if ok && slicesContains(ids, id) {
			continue
		}
		if !ok && len(t.keys) >= t.max {
			t.evictOne()
		}
		t.keys[string(k)] = append(ids, id)
	}
	t.size.Store(int64(len(t.keys)))
}

// slicesContains looks for id from the end: the reader is most often the
// one that read the key last.
func slicesContains(ids []int64, id int64) bool {
	for i := len(ids) - 1; i >= 0; i-- {
		if ids[i] == id {
			return true
		}
	}
	return false
}

// evictOne drops one key from the full table, as Redis does at
// tracking-table-max-keys: its readers are told it changed, since they
// would not hear of its next change. t.mu must be held.
func (t *tracking) evictOne() {
	for k := range t.keys { // a map's iteration starts at random
		t.invalidate(k)
		return
	}
}

// invalidate queues a push of key for each client that read it, and
// forgets them. t.mu must be held.
func (t *tracking) invalidate(key string) {
	ids, ok := t.keys[key]
	if !ok {
		return
	}
	delete(t.keys, key)
	key = strings.Clone(key) // the store's key bytes pin its value
	for _, id := range ids {
		t.pending = append(t.pending, invalidation{id: id, key: key})
	}
	t.queued.Store(true)
}

// changed is the store's notice of a changed key (Config.Changed); the
// store is locked.
func (t *tracking) changed(key string, flushed bool) {
	if t.size.Load() == 0 && !flushed {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if flushed {
		// Every tracking client drops its whole cache, so the table
		// starts over, as in Redis.
		clear(t.keys)
		t.pending = append(t.pending, invalidation{all: true})
		t.queued.Store(true)
	} else {
		t.invalidate(key)
	}
	t.size.Store(int64(len(t.keys)))
}

// take returns the queued invalidations and empties the queue.
func (t *tracking) take() []invalidation {
	if !t.queued.Load() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pending
	t.pending = nil
	t.queued.Store(false)
	return p
}

// tracks reports whether cmd's keys are remembered when a tracking client
// runs it: read-only commands that name keys, as in Redis.
func (cmd *command) tracks() bool {
	return (cmd.keys.first > 0 || cmd.moreKeys != nil) && cmd.readOnly()
}

// keysOf returns the arguments of args that cmd's key spec names.
func (k keySpec) keysOf(args [][]byte) [][]byte {
	if k.first == 0 {
		return nil
	}
	last := k.last
	if last < 0 {
		last += len(args)
	}
	if k.first == last && k.first < len(args) {
		return args[k.first : k.first+1]
	}
	var keys [][]byte
	for i := k.first; i <= last && i < len(args); i += k.step {
		keys = append(keys, args[i])
	}
	return keys
}

// keysOf returns the arguments of args that are keys: those cmd's key spec
// names, and those its moreKeys finds.
func (cmd *command) keysOf(args [][]byte) [][]byte {
	keys := cmd.keys.keysOf(args)
	if cmd.moreKeys == nil {
		return keys
	}
	return append(keys[:len(keys):len(keys)], cmd.moreKeys(args)...)
}

// countedKeys finds the keys that follow a count of them at index at
// (ZUNION numkeys key ...): none if that is not a count of arguments that
// are there.
func countedKeys(at int) func(args [][]byte) [][]byte {
	return func(args [][]byte) [][]byte {
		if at >= len(args) {
			return nil
		}
		n, ok := store.ParseInt(args[at])
		if !ok || n < 1 || n > int64(len(args)-at-1) {
			return nil
		}
		return args[at+1 : at+1+int(n)]
	}
}

// streamsKeys finds XREAD's keys: the first half of what follows STREAMS.
func streamsKeys(args [][]byte) [][]byte {
	for i := 1; i < len(args); i++ {
		if is(args[i], "STREAMS") {
			rest := args[i+1:]
			return rest[:len(rest)/2]
		}
		if is(args[i], "COUNT") || is(args[i], "BLOCK") {
			i++
		}
	}
	return nil
}

// deliver sends the queued invalidations, on loop l, with the server's
// running lock held. Those for c, the client whose command just ran (nil
// if none), are appended to its replies in out, after the reply that
// caused them, as Redis 7 orders them; clients that cache read them before
// their next reply. Others on l are appended to their pending replies and
// written at once; those on other loops are handed to their loops, which
// write them as soon as they run (their replies are theirs to touch).
func (s *Server) deliver(l *loop, c *conn, out []byte) []byte {
	pending := s.tracking.take()
	if pending == nil {
		return out
	}
	b := pushBatch{from: l, self: c, out: out}
	push := func(to *conn, inv invalidation) {
		if to.resp3 { // else it switched back to RESP2: nowhere to send pushes
			p := b.bufFor(to)
			*p = appendInvalidation(*p, inv)
		}
	}
	for _, inv := range pending {
		if inv.all {
			for _, to := range s.tracking.clients {
				push(to, inv)
			}
		} else if to := s.tracking.clients[inv.id]; to != nil {
			push(to, inv)
		}
	}
	b.send()
	return b.out
}

// appendInvalidation appends one RESP3 push: >2 invalidate [key], or
// >2 invalidate _ for all keys.
func appendInvalidation(out []byte, inv invalidation) []byte {
	out = append(out, ">2\r\n$10\r\ninvalidate\r\n"...)
	if inv.all {
		return resp.AppendNull3(out)
	}
	out = resp.AppendArray(out, 1)
	return resp.AppendBulkString(out, inv.key)
}

// startTracking and stopTracking turn c's tracking on and off. Its entries
// in the table go lazily, when their keys change.
func (s *Server) startTracking(c *conn) { s.tracking.clients[c.id] = c; c.tracking = true }
func (s *Server) stopTracking(c *conn) {
	if c.tracking {
		delete(s.tracking.clients, c.id)
		c.tracking = false
	}
}

// errTrackingOption is the reply to the options of CLIENT TRACKING that
// tiny-mp-cache does not implement.
const errTrackingOption = "ERR tiny-mp-cache supports CLIENT TRACKING ON|OFF in default mode only: REDIRECT, BCAST, PREFIX, OPTIN, OPTOUT and NOLOOP are not supported"

// clientTracking is CLIENT TRACKING ON|OFF. Invalidations are sent only as
// RESP3 pushes on the tracking connection itself: without REDIRECT, a
// RESP2 connection could not receive them, so ON needs HELLO 3 first
// (Redis accepts it and sends nothing, which leaves the client's cache
// stale without a word).
func clientTracking(c *conn, args [][]byte, out []byte) []byte {
	if len(args) < 3 {
		return appendArityError(out, []byte("client|tracking"))
	}
	on := is(args[2], "ON")
	if !on && !is(args[2], "OFF") {
		return resp.AppendError(out, errSyntax)
	}
	if len(args) > 3 {
		switch a := args[3]; {
		case is(a, "REDIRECT"), is(a, "BCAST"), is(a, "PREFIX"), is(a, "OPTIN"), is(a, "OPTOUT"), is(a, "NOLOOP"):
			return resp.AppendError(out, errTrackingOption)
		}
		return resp.AppendError(out, errSyntax)
	}
	switch {
	case !on:
		c.s.stopTracking(c)
	case !c.resp3:
		return resp.AppendError(out, "ERR CLIENT TRACKING needs RESP3 (HELLO 3): invalidations are sent as RESP3 pushes, and REDIRECT is not supported")
	case !c.loop.canPush():
		return resp.AppendError(out, "ERR CLIENT TRACKING is not supported by the portable loop (macOS, Windows, -tags tmc_portable)")
	default:
		c.s.startTracking(c)
	}
	return resp.AppendSimple(out, "OK")
}

// clientTrackingInfo is CLIENT TRACKINGINFO: flags, redirect and prefixes,
// as Redis reports them.
func clientTrackingInfo(c *conn, out []byte) []byte {
	out = c.appendMap(out, 3)
	out = resp.AppendBulkString(out, "flags")
	out = resp.AppendArray(out, 1)
	redirect := int64(-1)
	if c.tracking {
		out = resp.AppendBulkString(out, "on")
		redirect = 0
	} else {
		out = resp.AppendBulkString(out, "off")
	}
	out = resp.AppendBulkString(out, "redirect")
	out = resp.AppendInt(out, redirect)
	out = resp.AppendBulkString(out, "prefixes")
	return resp.AppendArray(out, 0)
}

// clientGetRedir is CLIENT GETREDIR: 0 while tracking (to itself), -1
// otherwise.
func clientGetRedir(c *conn, out []byte) []byte {
	if c.tracking {
		return resp.AppendInt(out, 0)
	}
	return resp.AppendInt(out, -1)
}
