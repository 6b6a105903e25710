package server

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// The server's table of connected clients, for CLIENT LIST, INFO and KILL.
// Each loop keeps its own connections; this table holds them all, and,
// like CLIENT TRACKING's, it is guarded by Server.running, which every
// command holds. A loop lists a conn when it starts serving it and
// unlists it when it closes it.

// listClient adds c to the table. It runs on c's loop.
func (s *Server) listClient(c *conn) {
	c.created = time.Now()
	c.fdNum, c.local = c.socketInfo()
	s.running.Lock()
	defer s.running.Unlock()
	if s.clientTable == nil {
		s.clientTable = make(map[int64]*conn)
	}
	s.clientTable[c.id] = c
}

// unlistClient removes c from the table. Server.running must be held.
func (s *Server) unlistClient(c *conn) { delete(s.clientTable, c.id) }

// clientsByID returns the listed clients, oldest first, as Redis lists
// them.
func (s *Server) clientsByID() []*conn {
	cs := make([]*conn, 0, len(s.clientTable))
	for _, c := range s.clientTable {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *conn) int { return int(a.id - b.id) })
	return cs
}

// kill closes c, from the command of client by: at once if c is on
// another connection, on c's own loop (see loop.kill); after the reply if
// it is by itself. c runs no command after this one.
func (s *Server) kill(by, c *conn) {
	if c == by {
		c.quit = true
		return
	}
	c.killed = true
	s.unlistClient(c) // gone from CLIENT LIST at once, as it is from commands
	c.loop.kill(c)
}

// addrs returns c's peer and local addresses as Redis prints them: on a
// unix socket, the socket's path and port 0 for both.
func (c *conn) addrs() (addr, laddr string) {
	if c.s.cfg.Network == "unix" {
		a := c.s.cfg.Addr + ":0"
		return a, a
	}
	return c.remote, c.local
}

// clientType is CLIENT LIST and KILL's TYPE: every client of ours is a
// normal one (no replicas, no master).
func clientType(name []byte) (normal, ok bool) {
	switch {
	case is(name, "NORMAL"):
		return true, true
	case is(name, "MASTER"), is(name, "SLAVE"), is(name, "REPLICA"), is(name, "PUBSUB"):
		return false, true
	}
	return false, false
}

// appendClientInfo appends c's line of CLIENT LIST, without its newline,
// with Redis 7.0's fields in Redis's order. What tiny-mp-cache does not
// track per client (buffer sizes, memory) is Redis's value for an idle
// client with nothing buffered.
func (c *conn) appendClientInfo(b []byte, now time.Time) []byte {
	addr, laddr := c.addrs()
	last := c.lastAt
	if last.IsZero() {
		last = c.created
	}
	b = append(b, "id="...)
	b = strconv.AppendInt(b, c.id, 10)
	b = append(b, " addr="...)
	b = append(b, addr...)
	b = append(b, " laddr="...)
	b = append(b, laddr...)
	b = append(b, " fd="...)
	b = strconv.AppendInt(b, int64(c.fdNum), 10)
	b = append(b, " name="...)
	b = append(b, c.name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, int64(now.Sub(c.created)/time.Second), 10)
	b = append(b, " idle="...)
	b = strconv.AppendInt(b, int64(now.Sub(last)/time.Second), 10)
	b = append(b, " flags="...)
	b = c.appendClientFlags(b)
	b = append(b, " db=0"...)
	b = c.appendSubCounts(b)
	b = append(b, " multi="...)
	multi := int64(-1)
	if c.tx != nil {
		multi = int64(len(c.tx.queue))
	}
	b = strconv.AppendInt(b, multi, 10)
	b = append(b, " qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd="...)
	switch {
	case c.lastCmd == nil:
		b = append(b, "NULL"...)
	default:
		b = append(b, commandNames[c.lastCmd.id]...)
		if c.lastSub != "" {
			b = append(append(b, '|'), c.lastSub...)
		}
	}
	b = append(b, " user=default redir="...)
	redir := int64(-1)
	if c.tracking {
		redir = 0
	}
	b = strconv.AppendInt(b, redir, 10)
	if c.resp3 {
		return append(b, " resp=3"...)
	}
	return append(b, " resp=2"...)
}

// appendClientFlags appends the letters of CLIENT LIST's flags field that
// apply to us, in Redis's order, or N for none.
func (c *conn) appendClientFlags(b []byte) []byte {
	n := len(b)
	if c.subscribed() {
		b = append(b, 'P')
	}
	if c.tx != nil {
		b = append(b, 'x')
	}
	if c.block != nil {
		b = append(b, 'b')
	}
	if c.tracking {
		b = append(b, 't')
	}
	if c.watch != nil && c.s.store.Changed(c.watch) {
		b = append(b, 'd')
	}
	if c.s.cfg.Network == "unix" {
		b = append(b, 'U')
	}
	if len(b) == n {
		b = append(b, 'N')
	}
	return b
}

// appendText appends a text reply: a bulk string, or in RESP3 a verbatim
// string of format txt, as Redis sends CLIENT LIST and INFO.
func (c *conn) appendText(out, text []byte) []byte {
	if !c.resp3 {
		return resp.AppendBulk(out, text)
	}
	out = append(out, '=')
	out = strconv.AppendInt(out, int64(len(text)+4), 10)
	out = append(out, "\r\ntxt:"...)
	out = append(out, text...)
	return append(out, "\r\n"...)
}

// clientInfo is CLIENT INFO: the caller's own line of CLIENT LIST.
func clientInfo(c *conn, out []byte) []byte {
	line := append(c.appendClientInfo(nil, time.Now()), '\n')
	return c.appendText(out, line)
}

// clientList is CLIENT LIST [TYPE type | ID id [id ...]]: a line per
// client, of every loop.
func clientList(c *conn, args [][]byte, out []byte) []byte {
	var ids []int64
	normal := true
	switch {
	case len(args) == 4 && is(args[2], "TYPE"):
		var ok bool
		if normal, ok = clientType(args[3]); !ok {
			return resp.AppendError(out, "ERR Unknown client type '"+printable(args[3])+"'")
		}
	case len(args) > 3 && is(args[2], "ID"):
		for _, a := range args[3:] {
			id, ok := parseClientID(a)
			if !ok {
				return resp.AppendError(out, "ERR Invalid client ID")
			}
			ids = append(ids, id)
		}
	case len(args) != 2:
		return resp.AppendError(out, errSyntax)
	}
	var text []byte
	now := time.Now()
	for _, o := range c.s.clientsByID() {
		if normal && (ids == nil || slices.Contains(ids, o.id)) {
			text = append(o.appendClientInfo(text, now), '\n')
		}
	}
	return c.appendText(out, text)
}

func parseClientID(a []byte) (int64, bool) {
	id, err := strconv.ParseInt(string(a), 10, 64)
	return id, err == nil && id > 0
}

// clientKill is CLIENT KILL addr, which replies OK or an error, and
// CLIENT KILL [ID id] [TYPE type] [USER user] [ADDR addr] [LADDR addr]
// [SKIPME yes|no], which replies with how many clients it closed.
func clientKill(c *conn, args [][]byte, out []byte) []byte {
	if len(args) < 3 {
		return appendArityError(out, []byte("client|kill"))
	}
	var (
		id                int64
		addr, laddr, user []byte
		normal, skipme    = true, true
		oldStyle          = len(args) == 3
	)
	if oldStyle {
		addr, skipme = args[2], false
	}
	for i := 2; !oldStyle && i < len(args); i += 2 {
		if i+1 >= len(args) {
			return resp.AppendError(out, errSyntax)
		}
		v := args[i+1]
		switch a := args[i]; {
		case is(a, "ID"):
			var ok bool
			if id, ok = parseClientID(v); !ok {
				return resp.AppendError(out, "ERR client-id should be greater than 0")
			}
		case is(a, "TYPE"):
			var ok bool
			if normal, ok = clientType(v); !ok {
				return resp.AppendError(out, "ERR Unknown client type '"+printable(v)+"'")
			}
		case is(a, "USER"):
			if string(v) != "default" {
				return resp.AppendError(out, "ERR No such user '"+printable(v)+"'")
			}
			user = v
		case is(a, "ADDR"):
			addr = v
		case is(a, "LADDR"):
			laddr = v
		case is(a, "SKIPME") && is(v, "YES"):
			skipme = true
		case is(a, "SKIPME") && is(v, "NO"):
			skipme = false
		default:
			return resp.AppendError(out, errSyntax)
		}
	}
	_ = user // every client is the default user's
	killed := 0
	for _, o := range c.s.clientsByID() {
		oaddr, olocal := o.addrs()
		switch {
		case !normal,
			id != 0 && o.id != id,
			addr != nil && string(addr) != oaddr,
			laddr != nil && string(laddr) != olocal,
			skipme && o == c:
			continue
		}
		c.s.kill(c, o)
		killed++
	}
	switch {
	case !oldStyle:
		return resp.AppendInt(out, int64(killed))
	case killed == 0:
		return resp.AppendError(out, "ERR No such client")
	}
	return resp.AppendSimple(out, "OK")
}

// clientSubcommand records CLIENT's subcommand for CLIENT LIST's cmd
// field, unless the CLIENT command runs inside EXEC.
func clientSubcommand(c *conn, sub []byte) {
	if c.lastCmd == commands["client"] {
		c.lastSub = strings.ToLower(string(sub))
	}
}
