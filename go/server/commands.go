package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
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
	// unqueued commands run at once inside MULTI; the others are queued
	// for EXEC.
	unqueued bool
	// flags and keys are reported by COMMAND, for clients that look.
	flags []string
	keys  keySpec
	// run appends the reply for args (args[0] is the name) to out.
	run func(c *conn, args [][]byte, out []byte) []byte
	// id indexes commandNames and a server's per-command stats.
	id int
}

// readOnly reports whether cmd only reads: it changes no data.
func (cmd *command) readOnly() bool { return len(cmd.flags) > 0 && cmd.flags[0] == "readonly" }

// keySpec says which arguments are keys: first, last (negative counts from
// the end) and the step between them, as in COMMAND's reply.
type keySpec struct{ first, last, step int }

var (
	rw = []string{"write"}
	ro = []string{"readonly", "fast"}

	rwFast   = []string{"write", "denyoom", "fast"}
	rwGrow   = []string{"write", "denyoom"}
	rwExpire = []string{"write", "fast"}
	txFlags  = []string{"noscript", "loading", "stale", "fast", "allow_busy"}
	blocking = []string{"write", "denyoom", "noscript", "blocking"}

	oneKey   = keySpec{1, 1, 1}
	allKeys  = keySpec{1, -1, 1}
	keyPairs = keySpec{1, -1, 2}
	keysThen = keySpec{1, -2, 1} // keys, then one more argument
	twoKeys  = keySpec{1, 2, 1}
)

// commands maps lower-case command names to their entries. It is the only
// place that knows command names. commandNames lists them in order, by id.
var (
	commands     map[string]*command
	commandNames []string
)

func init() {
	commands = map[string]*command{
		// Strings and keys.
		"get":      {arity: 2, flags: ro, keys: oneKey, run: cmdGet},
		"set":      {arity: -3, flags: rw, keys: oneKey, run: cmdSet},
		"getdel":   {arity: 2, flags: rw, keys: oneKey, run: cmdGetDel},
		"mget":     {arity: -2, flags: ro, keys: allKeys, run: cmdMGet},
		"mset":     {arity: -3, flags: rw, keys: keyPairs, run: cmdMSet},
		"incr":     {arity: 2, flags: rw, keys: oneKey, run: cmdIncr},
		"incrby":   {arity: 3, flags: rw, keys: oneKey, run: cmdIncr},
		"decr":     {arity: 2, flags: rw, keys: oneKey, run: cmdIncr},
		"decrby":   {arity: 3, flags: rw, keys: oneKey, run: cmdIncr},
		"del":      {arity: -2, flags: rw, keys: allKeys, run: cmdDel},
		"unlink":   {arity: -2, flags: rw, keys: allKeys, run: cmdDel},
		"exists":   {arity: -2, flags: ro, keys: allKeys, run: cmdExists},
		"type":     {arity: 2, flags: ro, keys: oneKey, run: cmdType},
		"keys":     {arity: 2, flags: ro, run: cmdKeys},
		"scan":     {arity: -2, flags: ro, run: cmdScan},
		"dbsize":   {arity: 1, flags: ro, run: cmdDBSize},
		"flushdb":  {arity: -1, flags: rw, run: cmdFlush},
		"flushall": {arity: -1, flags: rw, run: cmdFlush},
		// Strings: the variants of SET and GET that framework backends use.
		"getset":      {arity: 3, flags: rwFast, keys: oneKey, run: cmdGetSet},
		"getex":       {arity: -2, flags: []string{"write", "fast"}, keys: oneKey, run: cmdGetEx},
		"setnx":       {arity: 3, flags: rwFast, keys: oneKey, run: cmdSetNX},
		"setex":       {arity: 4, flags: rwGrow, keys: oneKey, run: setWithTTL(time.Second)},
		"psetex":      {arity: 4, flags: rwGrow, keys: oneKey, run: setWithTTL(time.Millisecond)},
		"incrbyfloat": {arity: 3, flags: rwFast, keys: oneKey, run: cmdIncrByFloat},

		// Expiry.
		"ttl":     {arity: 2, flags: ro, keys: oneKey, run: cmdTTL},
		"pttl":    {arity: 2, flags: ro, keys: oneKey, run: cmdTTL},
		"persist": {arity: 2, flags: rw, keys: oneKey, run: cmdPersist},

		"expiretime":  {arity: 2, flags: ro, keys: oneKey, run: expireTimeCommand(time.Second)},
		"pexpiretime": {arity: 2, flags: ro, keys: oneKey, run: expireTimeCommand(time.Millisecond)},

		// EXPIRE's options NX, XX, GT and LT: see store.ExpireAt.
		"expire":    {arity: -3, flags: rwExpire, keys: oneKey, run: expireCommand(time.Second, false)},
		"pexpire":   {arity: -3, flags: rwExpire, keys: oneKey, run: expireCommand(time.Millisecond, false)},
		"expireat":  {arity: -3, flags: rwExpire, keys: oneKey, run: expireCommand(time.Second, true)},
		"pexpireat": {arity: -3, flags: rwExpire, keys: oneKey, run: expireCommand(time.Millisecond, true)},

		// Lists, the queue primitive.
		"lpush":  {arity: -3, flags: rw, keys: oneKey, run: cmdPush},
		"rpush":  {arity: -3, flags: rw, keys: oneKey, run: cmdPush},
		"lpop":   {arity: -2, flags: rw, keys: oneKey, run: cmdPop},
		"rpop":   {arity: -2, flags: rw, keys: oneKey, run: cmdPop},
		"llen":   {arity: 2, flags: ro, keys: oneKey, run: cmdLLen},
		"lrange": {arity: 4, flags: ro, keys: oneKey, run: cmdLRange},
		"blpop":  {arity: -3, flags: rw, keys: keysThen, run: cmdBPop},
		"brpop":  {arity: -3, flags: rw, keys: keysThen, run: cmdBPop},
		"lmove":  {arity: 5, flags: rwGrow, keys: twoKeys, run: cmdLMove},
		"blmove": {arity: 6, flags: blocking, keys: twoKeys, run: cmdBLMove},

		// Transactions. EXEC runs the queue atomically: see transaction.
		"multi":   {arity: 1, unqueued: true, flags: txFlags, run: cmdMulti},
		"exec":    {arity: 1, unqueued: true, flags: []string{"noscript", "loading", "stale", "skip_slowlog"}, run: cmdExec},
		"discard": {arity: 1, unqueued: true, flags: txFlags, run: cmdDiscard},
		"watch":   {arity: -2, unqueued: true, flags: txFlags, keys: allKeys, run: cmdWatch},
		"unwatch": {arity: 1, flags: txFlags, run: cmdUnwatch},

		// Connection and server.
		"ping":    {arity: -1, flags: ro, run: cmdPing},
		"echo":    {arity: 2, flags: ro, run: cmdEcho},
		"auth":    {arity: -2, noAuth: true, run: cmdAuth},
		"hello":   {arity: -1, noAuth: true, run: cmdHello},
		"quit":    {arity: 1, noAuth: true, closes: true, unqueued: true, run: cmdQuit},
		"reset":   {arity: 1, noAuth: true, unqueued: true, flags: []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, run: cmdReset},
		"select":  {arity: 2, run: cmdSelect},
		"client":  {arity: -2, run: cmdClient},
		"config":  {arity: -2, run: cmdConfig},
		"command": {arity: -1, run: cmdCommand},
		"info":    {arity: -1, run: cmdInfo},
		"time":    {arity: 1, run: cmdTime},

		// Values in shared memory, on a unix socket (shared.go).
		"tmc.setfd":    {arity: -3, flags: rwGrow, keys: oneKey, run: cmdSetFD},
		"tmc.getfd":    {arity: 2, flags: ro, keys: oneKey, run: cmdGetFD},
		"tmc.getdelfd": {arity: 2, flags: rw, keys: oneKey, run: cmdGetFD},
		"tmc.get":      {arity: 2, flags: ro, keys: oneKey, run: cmdGetOrSize},
		"tmc.getdel":   {arity: 2, flags: rw, keys: oneKey, run: cmdGetOrSize},
	}
	for name := range commands {
		commandNames = append(commandNames, name)
	}
	slices.Sort(commandNames)
	for id, name := range commandNames {
		commands[name].id = id
	}
}

// maxNameLen is the longest command name looked up; longer ones are unknown.
const maxNameLen = 32

// exec runs one command, or queues it in a transaction, and appends its
// reply to out. It reports whether the client asked to close the
// connection. Refused commands and error replies are counted for INFO
// commandstats and errorstats.
func (s *Server) exec(c *conn, args [][]byte, out []byte) ([]byte, bool) {
	start := len(out)
	name := args[0]
	var lower [maxNameLen]byte
	var cmd *command
	if len(name) <= maxNameLen {
		for i, ch := range name {
			if 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			lower[i] = ch
		}
		cmd = commands[string(lower[:len(name)])]
	}
	switch {
	case cmd == nil:
		out = c.refused(resp.AppendError(out, "ERR unknown command '"+printable(name)+"'"))
		s.stats.countError(out[start:])
		return out, false
	case !c.authed && !cmd.noAuth:
		out = c.refused(resp.AppendError(out, "NOAUTH Authentication required."))
	case cmd.arity > 0 && len(args) != cmd.arity, cmd.arity < 0 && len(args) < -cmd.arity:
		out = c.refused(appendArityError(out, lower[:len(name)]))
	case c.tx != nil && !cmd.unqueued:
		out = c.enqueue(cmd, args, out)
		if out[start] == '-' {
			s.stats.countError(out[start:])
		}
		return out, false
	default:
		out = s.call(c, cmd, args, out)
		// Pops blocked on lists the command pushed to are served now,
		// once it is done: after a whole EXEC, not in its middle.
		s.store.ServeReady()
		return s.deliver(c.loop, c, out), cmd.closes // invalidations follow the reply
	}
	s.stats.commands[cmd.id].rejected++
	s.stats.countError(out[start:])
	return out, false
}

// call runs cmd and counts its call, its time and an error reply, without
// allocating: two clock reads, as in Redis.
func (s *Server) call(c *conn, cmd *command, args [][]byte, out []byte) []byte {
	start := len(out)
	began := time.Now()
	if c.tracking && cmd.tracks() {
		s.tracking.remember(c.id, cmd.keys.keysOf(args))
	}
	out = cmd.run(c, args, out)
	st := &s.stats.commands[cmd.id]
	st.calls++
	st.nanos += int64(time.Since(began))
	if len(out) > start && out[start] == '-' {
		st.failed++
		s.stats.countError(out[start:])
	}
	return out
}

func appendArityError(out, name []byte) []byte {
	return resp.AppendError(out, "ERR wrong number of arguments for '"+string(name)+"' command")
}

// printable quotes at most 64 bytes of a client-supplied name for an error.
func printable(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	s := strconv.QuoteToASCII(string(b))
	return s[1 : len(s)-1]
}

// is reports whether a client-supplied word equals an upper-case keyword,
// ignoring case.
func is(arg []byte, keyword string) bool {
	return len(arg) == len(keyword) && strings.EqualFold(string(arg), keyword)
}

const (
	errSyntax   = "ERR syntax error"
	errNotInt   = "ERR value is not an integer or out of range"
	errTimeout  = "ERR timeout is not a float or out of range"
	errNegative = "ERR timeout is negative"

	errTimeoutRange = "ERR timeout is out of range"
)

func appendErr(out []byte, err error) []byte { return resp.AppendError(out, err.Error()) }

// appendValue appends a bulk string, or null if missing.
func (c *conn) appendValue(out, v []byte, ok bool) []byte {
	if !ok {
		return c.appendNull(out)
	}
	return c.appendBulk(out, v)
}

func cmdGet(c *conn, args [][]byte, out []byte) []byte {
	v, ok, err := c.s.store.Get(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

// cmdSet is SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t |
// KEEPTTL]. With GET it replies with the old value, set or not.
func cmdSet(c *conn, args [][]byte, out []byte) []byte {
	var opt store.SetOptions
	get, expiry := false, false
	for i := 3; i < len(args); i++ {
		switch a := args[i]; {
		case is(a, "NX") && !opt.XX:
			opt.NX = true
		case is(a, "XX") && !opt.NX:
			opt.XX = true
		case is(a, "GET"):
			get = true
		case is(a, "KEEPTTL") && !expiry:
			opt.KeepTTL, expiry = true, true
		case isExpiry(a) && !expiry && i+1 < len(args):
			at, msg := c.expiryOption(a, args[i+1], "set")
			if msg != "" {
				return resp.AppendError(out, msg)
			}
			opt.At, expiry = at, true
			i++
		default:
			return resp.AppendError(out, errSyntax)
		}
	}
	if get {
		old, had, err := c.s.store.Swap(args[1], args[2], opt)
		if err != nil {
			return appendErr(out, err)
		}
		return c.appendValue(out, old, had)
	}
	opt.Take = c.rd.Owns(args[2]) // a big value read into memory of its own
	ok, err := c.s.store.Set(args[1], args[2], opt)
	switch {
	case err != nil:
		return appendErr(out, err)
	case !ok:
		return c.appendNull(out)
	}
	return resp.AppendSimple(out, "OK")
}

// isExpiry reports whether a is one of the options that set a deadline:
// EX, PX, EXAT or PXAT.
func isExpiry(a []byte) bool {
	return is(a, "EX") || is(a, "PX") || is(a, "EXAT") || is(a, "PXAT")
}

// expiryOption reads the deadline given by an EX, PX, EXAT or PXAT option
// of command name; it must be positive. It returns an error reply instead
// if the number is not valid.
func (c *conn) expiryOption(option, n []byte, name string) (time.Time, string) {
	unit := time.Second
	if option[0] == 'p' || option[0] == 'P' {
		unit = time.Millisecond
	}
	return c.deadline(n, unit, len(option) == 4, true, name)
}

// deadline converts n units, counted from now or (if absolute) from the
// Unix epoch, to a time on the store's clock. Unless positive, n may be 0
// or negative: a time already past. It returns an error reply instead if n
// is not an integer, or if the deadline in Unix milliseconds would not fit
// in an int64, the range Redis accepts (a huge PEXPIREAT is stored, a huge
// negative EXPIREAT deletes the key).
func (c *conn) deadline(n []byte, unit time.Duration, absolute, positive bool, name string) (time.Time, string) {
	v, ok := store.ParseInt(n)
	if !ok {
		return time.Time{}, errNotInt
	}
	perUnit := int64(unit / time.Millisecond)
	var now time.Time
	var base int64 // Unix milliseconds that v counts from
	if !absolute {
		now = c.s.store.Now()
		base = now.UnixMilli()
	}
	if v > math.MaxInt64/perUnit || v < math.MinInt64/perUnit || positive && v <= 0 ||
		v*perUnit > math.MaxInt64-base {
		return time.Time{}, "ERR invalid expire time in '" + name + "' command"
	}
	ms := v * perUnit
	if !absolute && ms <= maxTTLMillis && ms >= -maxTTLMillis {
		return now.Add(time.Duration(ms) * time.Millisecond), "" // to the nanosecond
	}
	return time.UnixMilli(base + ms), ""
}

// maxTTLMillis is the longest relative TTL added to the clock as a
// time.Duration, in milliseconds; a longer one is counted in whole
// milliseconds, as Redis counts them all.
const maxTTLMillis = int64(maxTTL / time.Millisecond)

// setWithTTL returns SETEX (unit time.Second) or PSETEX (time.Millisecond):
// SETEX key ttl value.
func setWithTTL(unit time.Duration) func(c *conn, args [][]byte, out []byte) []byte {
	name := "setex"
	if unit == time.Millisecond {
		name = "psetex"
	}
	return func(c *conn, args [][]byte, out []byte) []byte {
		at, msg := c.deadline(args[2], unit, false, true, name)
		if msg != "" {
			return resp.AppendError(out, msg)
		}
		if _, err := c.s.store.Set(args[1], args[3], store.SetOptions{At: at}); err != nil {
			return appendErr(out, err)
		}
		return resp.AppendSimple(out, "OK")
	}
}

func cmdSetNX(c *conn, args [][]byte, out []byte) []byte {
	ok, err := c.s.store.Set(args[1], args[2], store.SetOptions{NX: true})
	switch {
	case err != nil:
		return appendErr(out, err)
	case ok:
		return resp.AppendInt(out, 1)
	}
	return resp.AppendInt(out, 0)
}

func cmdGetSet(c *conn, args [][]byte, out []byte) []byte {
	old, had, err := c.s.store.Swap(args[1], args[2], store.SetOptions{})
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, old, had)
}

// cmdGetEx is GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST].
func cmdGetEx(c *conn, args [][]byte, out []byte) []byte {
	var at time.Time
	persist := false
	switch {
	case len(args) == 2:
	case len(args) == 3 && is(args[2], "PERSIST"):
		persist = true
	case len(args) == 4 && isExpiry(args[2]):
		var msg string
		if at, msg = c.expiryOption(args[2], args[3], "getex"); msg != "" {
			return resp.AppendError(out, msg)
		}
	default:
		return resp.AppendError(out, errSyntax)
	}
	v, ok, err := c.s.store.GetEx(args[1], at, persist)
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

// maxTTL keeps deadlines far from overflowing int64 nanoseconds.
const maxTTL = 100 * 365 * 24 * time.Hour

func cmdGetDel(c *conn, args [][]byte, out []byte) []byte {
	v, ok, err := c.s.store.GetDel(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

func cmdMGet(c *conn, args [][]byte, out []byte) []byte {
	vals := c.s.store.MGet(args[1:])
	out = resp.AppendArray(out, len(vals))
	for _, v := range vals {
		if c.overflowing(out) {
			break // never sent (see overflowing): stop before it costs more
		}
		out = c.appendValue(out, v, v != nil)
	}
	return out
}

func cmdMSet(c *conn, args [][]byte, out []byte) []byte {
	if len(args)%2 != 1 {
		return appendArityError(out, []byte("mset"))
	}
	if err := c.s.store.MSet(args[1:]); err != nil {
		return appendErr(out, err)
	}
	return resp.AppendSimple(out, "OK")
}

// cmdIncr serves INCR, INCRBY, DECR and DECRBY.
func cmdIncr(c *conn, args [][]byte, out []byte) []byte {
	delta := int64(1)
	if len(args) == 3 {
		var ok bool
		if delta, ok = store.ParseInt(args[2]); !ok {
			return resp.AppendError(out, errNotInt)
		}
	}
	if args[0][0] == 'd' || args[0][0] == 'D' {
		if delta == minInt64 {
			return resp.AppendError(out, "ERR decrement would overflow")
		}
		delta = -delta
	}
	n, err := c.s.store.IncrBy(args[1], delta)
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, n)
}

const minInt64 = -1 << 63

func cmdIncrByFloat(c *conn, args [][]byte, out []byte) []byte {
	v, err := c.s.store.IncrByFloat(args[1], args[2])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendBulk(out, v)
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

func cmdExists(c *conn, args [][]byte, out []byte) []byte {
	var n int64
	for _, k := range args[1:] {
		if c.s.store.Exists(k) {
			n++
		}
	}
	return resp.AppendInt(out, n)
}

func cmdType(c *conn, args [][]byte, out []byte) []byte {
	return resp.AppendSimple(out, c.s.store.Type(args[1]))
}

func (c *conn) appendKeys(out []byte, keys []string) []byte {
	out = resp.AppendArray(out, len(keys))
	for _, k := range keys {
		if c.overflowing(out) {
			break // never sent (see overflowing): stop before it costs more
		}
		out = resp.AppendBulkString(out, k)
	}
	return out
}

func cmdKeys(c *conn, args [][]byte, out []byte) []byte {
	return c.appendKeys(out, c.s.store.Keys(string(args[1])))
}

// cmdScan is SCAN cursor [MATCH pattern] [COUNT n] [TYPE t].
func cmdScan(c *conn, args [][]byte, out []byte) []byte {
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		return resp.AppendError(out, "ERR invalid cursor")
	}
	pattern, count, typ := "*", 10, ""
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return resp.AppendError(out, errSyntax)
		}
		switch a, v := args[i], args[i+1]; {
		case is(a, "MATCH"):
			pattern = string(v)
		case is(a, "COUNT"):
			n, ok := store.ParseInt(v)
			if !ok || n < 1 {
				return resp.AppendError(out, errSyntax)
			}
			count = int(min(n, 1<<20))
		case is(a, "TYPE"):
			typ = strings.ToLower(string(v))
		default:
			return resp.AppendError(out, errSyntax)
		}
	}
	next, keys := c.s.store.Scan(cursor, pattern, count)
	if typ != "" {
		kept := keys[:0]
		for _, k := range keys {
			if c.s.store.Type([]byte(k)) == typ {
				kept = append(kept, k)
			}
		}
		keys = kept
	}
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, strconv.FormatUint(next, 10))
	return c.appendKeys(out, keys)
}

func cmdDBSize(c *conn, args [][]byte, out []byte) []byte {
	return resp.AppendInt(out, int64(c.s.store.Len()))
}

// cmdFlush is FLUSHDB and FLUSHALL, with or without ASYNC/SYNC.
func cmdFlush(c *conn, args [][]byte, out []byte) []byte {
	if len(args) > 2 || len(args) == 2 && !is(args[1], "ASYNC") && !is(args[1], "SYNC") {
		return resp.AppendError(out, errSyntax)
	}
	c.s.store.Flush()
	return resp.AppendSimple(out, "OK")
}

// expireCommand returns EXPIRE, PEXPIRE, EXPIREAT or PEXPIREAT: key n
// [NX | XX | GT | LT], n units from now or (absolute) from the epoch.
func expireCommand(unit time.Duration, absolute bool) func(c *conn, args [][]byte, out []byte) []byte {
	name := "expire"
	if absolute {
		name = "expireat"
	}
	if unit == time.Millisecond {
		name = "p" + name
	}
	return func(c *conn, args [][]byte, out []byte) []byte {
		var cond store.ExpireCond
		for _, a := range args[3:] {
			switch {
			case is(a, "NX"):
				cond |= store.IfNoTTL
			case is(a, "XX"):
				cond |= store.IfTTL
			case is(a, "GT"):
				cond |= store.IfLater
			case is(a, "LT"):
				cond |= store.IfSooner
			default:
				return resp.AppendError(out, "ERR Unsupported option "+printable(a))
			}
		}
		switch {
		case cond&store.IfNoTTL != 0 && cond != store.IfNoTTL:
			return resp.AppendError(out, "ERR NX and XX, GT or LT options at the same time are not compatible")
		case cond&store.IfLater != 0 && cond&store.IfSooner != 0:
			return resp.AppendError(out, "ERR GT and LT options at the same time are not compatible")
		}
		at, msg := c.deadline(args[2], unit, absolute, false, name)
		if msg != "" {
			return resp.AppendError(out, msg)
		}
		if c.s.store.ExpireAt(args[1], at, cond) {
			return resp.AppendInt(out, 1)
		}
		return resp.AppendInt(out, 0)
	}
}

// cmdTTL is TTL (seconds, rounded) and PTTL (milliseconds): -2 for a missing
// key, -1 for a key without a deadline.
func cmdTTL(c *conn, args [][]byte, out []byte) []byte {
	left, exists, forever := c.s.store.TTL(args[1])
	switch {
	case !exists:
		return resp.AppendInt(out, -2)
	case forever:
		return resp.AppendInt(out, -1)
	case args[0][0] == 'p' || args[0][0] == 'P':
		return resp.AppendInt(out, int64((left+time.Millisecond/2)/time.Millisecond))
	}
	return resp.AppendInt(out, int64((left+time.Second/2)/time.Second))
}

// expireTimeCommand is EXPIRETIME (Unix seconds, rounded, as Redis does)
// and PEXPIRETIME (Unix milliseconds, rounded down: never past the true
// deadline, which the near cache relies on), or -2 for a missing key and -1
// for a key without a deadline.
func expireTimeCommand(unit time.Duration) func(c *conn, args [][]byte, out []byte) []byte {
	return func(c *conn, args [][]byte, out []byte) []byte {
		at, exists, forever := c.s.store.ExpireTime(args[1])
		switch {
		case !exists:
			return resp.AppendInt(out, -2)
		case forever:
			return resp.AppendInt(out, -1)
		}
		ms := at / int64(time.Millisecond)
		if unit == time.Second {
			return resp.AppendInt(out, (ms+500)/1000)
		}
		return resp.AppendInt(out, ms)
	}
}

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

func cmdPersist(c *conn, args [][]byte, out []byte) []byte {
	if c.s.store.Persist(args[1]) {
		return resp.AppendInt(out, 1)
	}
	return resp.AppendInt(out, 0)
}

// isLeft reports whether a list command works at the head: LPUSH, LPOP,
// BLPOP. Its counterparts (RPUSH, RPOP, BRPOP) work at the tail.
func isLeft(name []byte) bool {
	if name[0] == 'b' || name[0] == 'B' {
		name = name[1:]
	}
	return name[0] == 'l' || name[0] == 'L'
}

func cmdPush(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.Push(args[1], args[2:], isLeft(args[0]))
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

// cmdPop is LPOP and RPOP key [count].
func cmdPop(c *conn, args [][]byte, out []byte) []byte {
	if len(args) > 3 {
		return appendArityError(out, []byte(strings.ToLower(string(args[0]))))
	}
	count := int64(1)
	if len(args) == 3 {
		var ok bool
		if count, ok = store.ParseInt(args[2]); !ok || count < 0 {
			return resp.AppendError(out, "ERR value is out of range, must be positive")
		}
	}
	vals, err := c.s.store.Pop(args[1], isLeft(args[0]), int(min(count, 1<<30)))
	switch {
	case err != nil:
		return appendErr(out, err)
	case len(args) == 2:
		if len(vals) == 0 {
			return c.appendNull(out)
		}
		return resp.AppendBulk(out, vals[0])
	case vals == nil:
		return c.appendNullArray(out)
	}
	out = resp.AppendArray(out, len(vals))
	for _, v := range vals {
		out = resp.AppendBulk(out, v)
	}
	return out
}

func cmdLLen(c *conn, args [][]byte, out []byte) []byte {
	n, err := c.s.store.LLen(args[1])
	if err != nil {
		return appendErr(out, err)
	}
	return resp.AppendInt(out, int64(n))
}

func cmdLRange(c *conn, args [][]byte, out []byte) []byte {
	start, ok1 := store.ParseInt(args[2])
	stop, ok2 := store.ParseInt(args[3])
	if !ok1 || !ok2 {
		return resp.AppendError(out, errNotInt)
	}
	vals, err := c.s.store.LRange(args[1], int(start), int(stop))
	if err != nil {
		return appendErr(out, err)
	}
	out = resp.AppendArray(out, len(vals))
	for _, v := range vals {
		if c.overflowing(out) {
			break // never sent (see overflowing): stop before it costs more
		}
		out = resp.AppendBulk(out, v)
	}
	return out
}

// cmdBPop is BLPOP and BRPOP key [key ...] timeout. It blocks this
// connection, and only this one, until a value arrives, the timeout (in
// seconds, 0 = forever) passes, the client hangs up or the server stops.
func cmdBPop(c *conn, args [][]byte, out []byte) []byte {
	timeout, msg := blockTimeout(args[len(args)-1])
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	keys := args[1 : len(args)-1]
	p, w, err := c.s.store.BPop(keys, isLeft(args[0]), c.wake)
	if err != nil {
		return appendErr(out, err)
	}
	if w != nil {
		// The event loop replies when the wait ends.
		c.block = &blocked{w: w, timeout: timeout}
		return out
	}
	return c.appendPopped(out, p)
}

// blockTimeout parses a blocking command's timeout, in seconds, as Redis
// does: a decimal or hexadecimal float, rounded up to whole milliseconds, so
// that a tiny positive timeout waits 1 ms. A timeout of 0, or a negative one
// that rounds up to 0, waits forever. NaN is not a float, and a timeout past
// maxTTL is out of range. It returns the timeout or an error message.
func blockTimeout(arg []byte) (time.Duration, string) {
	s := string(arg)
	secs, err := strconv.ParseFloat(s, 64)
	if errors.Is(err, strconv.ErrRange) && math.IsInf(secs, 0) {
		err = nil // a huge magnitude, refused below by its sign
	}
	if err != nil || math.IsNaN(secs) || strings.ContainsRune(s, '_') {
		return 0, errTimeout // Go's digit separators are not Redis syntax
	}
	ms := math.Ceil(secs * 1000)
	switch {
	case ms < 0:
		return 0, errNegative
	case ms > float64(maxTTL/time.Millisecond):
		return 0, errTimeoutRange
	case ms == 0 && secs == 0 && !math.Signbit(secs) && nonzeroMantissa(s):
		ms = 1 // positive, but too small for a float64 (1e-400)
	}
	return time.Duration(ms) * time.Millisecond, ""
}

// nonzeroMantissa reports whether a well-formed float's digits, before its
// exponent, are not all zeros.
func nonzeroMantissa(s string) bool {
	s = strings.TrimLeft(s, "+-")
	hex := len(s) > 1 && s[0] == '0' && (s[1]|0x20) == 'x'
	if hex {
		s = s[2:]
	}
	for _, ch := range s {
		switch {
		case ch == '0' || ch == '.':
		case '1' <= ch && ch <= '9', hex && 'a' <= ch|0x20 && ch|0x20 <= 'f':
			return true
		default: // the exponent
			return false
		}
	}
	return false
}

// appendPopped appends a blocking pop's reply: key and value, or null.
func (c *conn) appendPopped(out []byte, p *store.Popped) []byte {
	if p == nil {
		return c.appendNullArray(out)
	}
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, p.Key)
	return resp.AppendBulk(out, p.Value)
}

// reply appends the reply to a blocking command that has ended, with the
// value it received or, after a timeout, p == nil.
func (b *blocked) reply(c *conn, out []byte, p *store.Popped) []byte {
	if !b.move {
		return c.appendPopped(out, p)
	}
	switch {
	case p == nil:
		return c.appendNull(out)
	case p.Err != nil:
		return appendErr(out, p.Err)
	}
	return resp.AppendBulk(out, p.Value)
}

// ends reads the LEFT and RIGHT arguments of LMOVE and BLMOVE: whether the
// value leaves the source at its head and enters the destination at its
// head.
func ends(from, to []byte) (fromLeft, toLeft, ok bool) {
	isEnd := func(a []byte) bool { return is(a, "LEFT") || is(a, "RIGHT") }
	if !isEnd(from) || !isEnd(to) {
		return false, false, false
	}
	return is(from, "LEFT"), is(to, "LEFT"), true
}

// cmdLMove is LMOVE source destination LEFT|RIGHT LEFT|RIGHT. With the
// same list twice, it rotates the list.
func cmdLMove(c *conn, args [][]byte, out []byte) []byte {
	fromLeft, toLeft, ok := ends(args[3], args[4])
	if !ok {
		return resp.AppendError(out, errSyntax)
	}
	v, ok, err := c.s.store.Move(args[1], args[2], fromLeft, toLeft)
	if err != nil {
		return appendErr(out, err)
	}
	return c.appendValue(out, v, ok)
}

// cmdBLMove is BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout:
// LMOVE that waits, as BLPOP does, for a value to arrive in an empty
// source. The value is moved when it arrives, before the reply, so a value
// is never out of both lists: a queue consumer that dies after the move
// finds the value in its destination (its "processing" list).
func cmdBLMove(c *conn, args [][]byte, out []byte) []byte {
	fromLeft, toLeft, ok := ends(args[3], args[4])
	if !ok {
		return resp.AppendError(out, errSyntax)
	}
	timeout, msg := blockTimeout(args[5])
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	v, w, err := c.s.store.BMove(args[1], args[2], fromLeft, toLeft, c.wake)
	switch {
	case err != nil:
		return appendErr(out, err)
	case w != nil:
		// The event loop replies when the wait ends.
		c.block = &blocked{w: w, timeout: timeout, move: true}
		return out
	}
	return resp.AppendBulk(out, v)
}

func cmdWatch(c *conn, args [][]byte, out []byte) []byte {
	if c.tx != nil {
		return resp.AppendError(out, "ERR WATCH inside MULTI is not allowed")
	}
	c.watch = c.s.store.Watch(c.watch, args[1:])
	return resp.AppendSimple(out, "OK")
}

func cmdUnwatch(c *conn, args [][]byte, out []byte) []byte {
	c.unwatch()
	return resp.AppendSimple(out, "OK")
}

func (c *conn) unwatch() {
	if c.watch != nil {
		c.s.store.Unwatch(c.watch)
		c.watch = nil
	}
}

// watchFailed reports whether a key that c watches has changed.
func (c *conn) watchFailed() bool {
	return c.watch != nil && c.s.store.Changed(c.watch)
}

// cmdReset puts the connection back as it was when it connected: no
// transaction or watched keys, RESP2, no name, and unauthenticated if the
// server has a password.
func cmdReset(c *conn, args [][]byte, out []byte) []byte {
	c.discard()
	c.resp3 = false
	c.name = ""
	c.s.stopTracking(c)
	c.setAuthed(c.s.cfg.Password == "")
	return resp.AppendSimple(out, "RESET")
}

func cmdPing(c *conn, args [][]byte, out []byte) []byte {
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
	switch sub := args[1]; {
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
	out = resp.AppendArray(out, len(cmd.flags))
	for _, f := range cmd.flags {
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
