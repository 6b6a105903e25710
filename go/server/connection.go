package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// clientNearCache is CLIENT NEARCACHE: the reply +OK carries a read-only
// descriptor of the near cache's table (near.go) in SCM_RIGHTS, on a unix
// socket of the epoll loop; otherwise an error says why there is none.
func clientNearCache(c *conn, out []byte) []byte {
	switch {
	case c.s.near == nil:
		return resp.AppendError(out, "ERR no near cache: "+c.s.nearOff)
	case !c.loop.canPassFD():
		return resp.AppendError(out, "ERR no near cache: the portable loop (macOS, Windows, -tags tmc_portable) cannot pass its table's descriptor")
	}
	c.s.shareNear()
	c.passNear = true
	return resp.AppendSimple(out, "OK")
}

// cmdReset puts the connection back as it was when it connected: no
// transaction or watched keys, RESP2, no name, and unauthenticated if the
// server has a password.
func cmdReset(c *conn, args [][]byte, out []byte) []byte {
	c.discard()
	c.resp3 = false
	c.name = ""
	c.s.stopTracking(c)
	c.s.unsubscribeAll(c)
	c.setAuthed(c.s.cfg.Password == "")
	return resp.AppendSimple(out, "RESET")
}

func cmdPing(c *conn, args [][]byte, out []byte) []byte {
	if c.subscribed() && !c.resp3 && len(args) <= 2 { // subscriber mode: ["pong", message]
		out = resp.AppendArray(out, 2)
		out = resp.AppendBulkString(out, "pong")
		if len(args) == 1 {
			return resp.AppendBulkString(out, "")
		}
		return resp.AppendBulk(out, args[1])
	}
	switch len(args) {
	case 1:
		return resp.AppendSimple(out, "PONG")
	case 2:
		return resp.AppendBulk(out, args[1])
	}
	return appendArityError(out, []byte("ping"))
}

func cmdEcho(c *conn, args [][]byte, out []byte) []byte {
	return resp.AppendBulk(out, args[1])
}

// cmdAuth accepts "AUTH password" and, as Redis 6 does, "AUTH default password".
func cmdAuth(c *conn, args [][]byte, out []byte) []byte {
	if len(args) > 3 {
		return resp.AppendError(out, errSyntax)
	}
	if c.s.cfg.Password == "" {
		return resp.AppendError(out, "ERR AUTH called without any password configured for the default user. Are you sure your configuration is correct?")
	}
	user := []byte("default")
	if len(args) == 3 {
		user = args[1]
	}
	if !c.s.checkPassword(user, args[len(args)-1]) {
		return resp.AppendError(out, "WRONGPASS invalid username-password pair or user is disabled.")
	}
	c.setAuthed(true)
	return resp.AppendSimple(out, "OK")
}

// checkPassword compares SHA-256 digests of the passwords, which have the
// same size whatever the lengths: ConstantTimeCompare on the passwords
// themselves returns at once when their lengths differ, which tells a
// client timing AUTH how long the password is.
func (s *Server) checkPassword(user, pass []byte) bool {
	got, want := sha256.Sum256(pass), sha256.Sum256([]byte(s.cfg.Password))
	return string(user) == "default" && subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// cmdHello is HELLO [protover [AUTH user pass] [SETNAME name]]. It
// switches the connection to RESP2 or RESP3; redis-py 8 asks for RESP3.
func cmdHello(c *conn, args [][]byte, out []byte) []byte {
	resp3 := c.resp3
	if len(args) > 1 {
		v, ok := store.ParseInt(args[1])
		if !ok || v < 2 || v > 3 {
			return resp.AppendError(out, "NOPROTO unsupported protocol version")
		}
		resp3 = v == 3
	}
	for i := 2; i < len(args); i++ {
		switch {
		case is(args[i], "AUTH") && i+2 < len(args):
			if c.s.cfg.Password == "" || !c.s.checkPassword(args[i+1], args[i+2]) {
				return resp.AppendError(out, "WRONGPASS invalid username-password pair or user is disabled.")
			}
			c.setAuthed(true)
			i += 2
		case is(args[i], "SETNAME") && i+1 < len(args):
			c.name = string(args[i+1])
			i++
		default:
			return resp.AppendError(out, errSyntax)
		}
	}
	if !c.authed {
		return resp.AppendError(out, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
	}
	c.resp3 = resp3
	proto := int64(2)
	if resp3 {
		proto = 3
	}
	out = c.appendMap(out, 7)
	out = resp.AppendBulkString(out, "server")
	out = resp.AppendBulkString(out, "redis")
	out = resp.AppendBulkString(out, "version")
	out = resp.AppendBulkString(out, redisVersion)
	out = resp.AppendBulkString(out, "proto")
	out = resp.AppendInt(out, proto)
	out = resp.AppendBulkString(out, "id")
	out = resp.AppendInt(out, c.id)
	out = resp.AppendBulkString(out, "mode")
	out = resp.AppendBulkString(out, "standalone")
	out = resp.AppendBulkString(out, "role")
	out = resp.AppendBulkString(out, "master")
	out = resp.AppendBulkString(out, "modules")
	return resp.AppendArray(out, 0)
}

func cmdQuit(c *conn, args [][]byte, out []byte) []byte {
	return resp.AppendSimple(out, "OK")
}

func cmdSelect(c *conn, args [][]byte, out []byte) []byte {
	n, ok := store.ParseInt(args[1])
	switch {
	case !ok:
		return resp.AppendError(out, errNotInt)
	case n != 0:
		return resp.AppendError(out, "ERR DB index is out of range (tiny-mp-cache has only database 0)")
	}
	return resp.AppendSimple(out, "OK")
}

// cmdClient answers the CLIENT subcommands that clients send on connect,
// and those of client-side caching (tracking.go, and NEARCACHE, near.go).
func cmdClient(c *conn, args [][]byte, out []byte) []byte {
	clientSubcommand(c, args[1])
	switch sub := args[1]; {
	case is(sub, "LIST"):
		return clientList(c, args, out)
	case is(sub, "INFO") && len(args) == 2:
		return clientInfo(c, out)
	case is(sub, "KILL"):
		return clientKill(c, args, out)
	case is(sub, "SETINFO") && len(args) == 4:
		return clientSetInfo(args[2], args[3], out)
	case is(sub, "SETNAME") && len(args) == 3:
		c.name = string(args[2])
		return resp.AppendSimple(out, "OK")
	case is(sub, "GETNAME") && len(args) == 2:
		if c.name == "" {
			return c.appendNull(out)
		}
		return resp.AppendBulkString(out, c.name)
	case is(sub, "ID") && len(args) == 2:
		return resp.AppendInt(out, c.id)
	case is(sub, "TRACKING"):
		return clientTracking(c, args, out)
	case is(sub, "TRACKINGINFO") && len(args) == 2:
		return clientTrackingInfo(c, out)
	case is(sub, "GETREDIR") && len(args) == 2:
		return clientGetRedir(c, out)
	case is(sub, "NEARCACHE") && len(args) == 2:
		return clientNearCache(c, out)
	}
	return resp.AppendError(out, "ERR unknown subcommand or wrong number of arguments for 'client|"+strings.ToLower(printable(args[1]))+"'")
}

// clientSetInfo is CLIENT SETINFO LIB-NAME|LIB-VER value, which client
// libraries send on connect. The value is checked as Redis checks it, so
// that a client sees the same errors, and not kept: no command reads it.
func clientSetInfo(attr, value, out []byte) []byte {
	if !is(attr, "LIB-NAME") && !is(attr, "LIB-VER") {
		return resp.AppendError(out, "ERR Unrecognized option '"+printable(attr)+"'")
	}
	for _, ch := range value {
		if ch < '!' || ch > '~' {
			return resp.AppendError(out, "ERR "+strings.ToLower(string(attr))+" cannot contain spaces, newlines or special characters.")
		}
	}
	return resp.AppendSimple(out, "OK")
}
