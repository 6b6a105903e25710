package server

import (
	"crypto/subtle"
	"strconv"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// A command is one entry of the command table.
type command struct {
	// arity counts the command name too. A positive arity is exact; a
	// negative one is a minimum, as in Redis's COMMAND reply.
	arity int
	// noAuth commands run before the client has authenticated.
	noAuth bool
	// closes commands end the connection once their reply is written.
	closes bool
	// run appends the reply for args (args[0] is the name) to out.
	run func(c *conn, args [][]byte, out []byte) []byte
}

// commands maps lower-case command names to their entries. It is the only
// place that knows command names.
var commands map[string]*command

func init() {
	commands = map[string]*command{
		"get":    {arity: 2, run: cmdGet},
		"set":    {arity: 3, run: cmdSet},
		"getdel": {arity: 2, run: cmdGetDel},
		"del":    {arity: -2, run: cmdDel},
		"keys":   {arity: 2, run: cmdKeys},
		"dbsize": {arity: 1, run: cmdDBSize},
		"ping":   {arity: -1, run: cmdPing},
		"echo":   {arity: 2, run: cmdEcho},
		"auth":   {arity: -2, noAuth: true, run: cmdAuth},
		"quit":   {arity: 1, noAuth: true, closes: true, run: cmdQuit},
	}
}

// maxNameLen is the longest command name looked up; longer ones are unknown.
const maxNameLen = 32

// exec runs one command and appends its reply to out. It reports whether
// the client asked to close the connection.
func (s *Server) exec(c *conn, args [][]byte, out []byte) ([]byte, bool) {
	name := args[0]
	var lower [maxNameLen]byte
	if len(name) > maxNameLen {
		return resp.AppendError(out, "ERR unknown command '"+printable(name)+"'"), false
	}
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		lower[i] = ch
	}
	cmd, ok := commands[string(lower[:len(name)])]
	switch {
	case !ok:
		return resp.AppendError(out, "ERR unknown command '"+printable(name)+"'"), false
	case !c.authed && !cmd.noAuth:
		return resp.AppendError(out, "NOAUTH Authentication required."), false
	case cmd.arity > 0 && len(args) != cmd.arity, cmd.arity < 0 && len(args) < -cmd.arity:
		return resp.AppendError(out, "ERR wrong number of arguments for '"+string(lower[:len(name)])+"' command"), false
	}
	return cmd.run(c, args, out), cmd.closes
}

// printable quotes at most 64 bytes of a client-supplied name for an error.
func printable(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	s := strconv.QuoteToASCII(string(b))
	return s[1 : len(s)-1]
}

func cmdGet(c *conn, args [][]byte, out []byte) []byte {
	if v, ok := c.s.store.Get(args[1]); ok {
		return resp.AppendBulk(out, v)
	}
	return resp.AppendNull(out)
}

func cmdSet(c *conn, args [][]byte, out []byte) []byte {
	c.s.store.Set(args[1], args[2])
	return resp.AppendSimple(out, "OK")
}

func cmdGetDel(c *conn, args [][]byte, out []byte) []byte {
	if v, ok := c.s.store.GetDel(args[1]); ok {
		return resp.AppendBulk(out, v)
	}
	return resp.AppendNull(out)
}

func cmdDel(c *conn, args [][]byte, out []byte) []byte {
	var n int64
	for _, k := range args[1:] {
		if c.s.store.Del(k) {
			n++
		}
	}
	return resp.AppendInt(out, n)
}

func cmdKeys(c *conn, args [][]byte, out []byte) []byte {
	keys := c.s.store.Keys(string(args[1]))
	out = resp.AppendArray(out, len(keys))
	for _, k := range keys {
		out = resp.AppendBulkString(out, k)
	}
	return out
}

func cmdDBSize(c *conn, args [][]byte, out []byte) []byte {
	return resp.AppendInt(out, int64(c.s.store.Len()))
}

func cmdPing(c *conn, args [][]byte, out []byte) []byte {
	switch len(args) {
	case 1:
		return resp.AppendSimple(out, "PONG")
	case 2:
		return resp.AppendBulk(out, args[1])
	}
	return resp.AppendError(out, "ERR wrong number of arguments for 'ping' command")
}

func cmdEcho(c *conn, args [][]byte, out []byte) []byte {
	return resp.AppendBulk(out, args[1])
}

// cmdAuth accepts "AUTH password" and, as Redis 6 does, "AUTH default password".
func cmdAuth(c *conn, args [][]byte, out []byte) []byte {
	if len(args) > 3 {
		return resp.AppendError(out, "ERR syntax error")
	}
	if c.s.cfg.Password == "" {
		return resp.AppendError(out, "ERR AUTH called without any password configured for the default user. Are you sure your configuration is correct?")
	}
	user, pass := "default", string(args[len(args)-1])
	if len(args) == 3 {
		user = string(args[1])
	}
	if user != "default" || subtle.ConstantTimeCompare([]byte(pass), []byte(c.s.cfg.Password)) != 1 {
		return resp.AppendError(out, "WRONGPASS invalid username-password pair or user is disabled.")
	}
	c.authed = true
	return resp.AppendSimple(out, "OK")
}

func cmdQuit(c *conn, args [][]byte, out []byte) []byte {
	return resp.AppendSimple(out, "OK")
}
