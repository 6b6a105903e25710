// Package client is a RESP2 client for a tiny-mp-cache server, or for Redis.
package client

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// Kind classifies an Error; the C API turns it into a status code.
type Kind int

const (
	KindConn        Kind = iota + 1 // cannot connect, or the connection broke
	KindTimeout                     // the server did not answer in time
	KindProto                       // the reply was malformed
	KindServer                      // the server answered with an error reply
	KindArg                         // a bad address or a closed client
	KindInterrupted                 // a signal interrupted the call (Options.Interrupted)
)

// Error is every error a Client returns.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Addr is a parsed server address.
type Addr struct {
	Network  string // "tcp" or "unix"
	Address  string // "host:port" or a socket path
	Password string // sent with AUTH after connecting, if set
	DB       int    // selected after connecting, if not 0
}

// ParseAddr parses "host:port", "unix:///path.sock",
// "unix://:password@/path.sock" and "redis://[:password@]host:port[/db]",
// as tests/addresses.json says, which the Python parser passes too.
func ParseAddr(s string) (Addr, error) {
	bad := func(why string) (Addr, error) {
		return Addr{}, &Error{KindArg, fmt.Sprintf("invalid address %q: %s; "+
			"expected \"HOST:PORT\", \"unix:///path.sock\" or \"redis://HOST:PORT/0\"", s, why)}
	}
	switch {
	case strings.HasPrefix(s, "unix://"):
		rest := s[len("unix://"):]
		var a Addr
		if at := strings.Index(rest, "@/"); at >= 0 {
			a.Password = strings.TrimPrefix(rest[:at], ":")
			rest = rest[at+1:]
		}
		if !strings.HasPrefix(rest, "/") || len(rest) < 2 {
			return bad("the socket path must be absolute")
		}
		a.Network, a.Address = "unix", rest
		return a, nil
	case strings.HasPrefix(s, "redis://"):
		u, err := url.Parse(s)
		if err != nil {
			return bad(err.Error())
		}
		if u.Hostname() == "" {
			return bad("missing host")
		}
		a := Addr{Network: "tcp", Address: net.JoinHostPort(u.Hostname(), "6379")}
		if u.User != nil {
			a.Password, _ = u.User.Password()
			if a.Password == "" {
				a.Password = u.User.Username()
			}
		}
		if db := strings.Trim(u.Path, "/"); db != "" {
			n, err := strconv.ParseInt(db, 10, 32) // a database index is an int in Redis
			if err != nil || !digits(db) {
				return bad("the database must be a number")
			}
			a.DB = int(n)
		}
		if u.Port() != "" {
			port, ok := parsePort(u.Port())
			if !ok {
				return bad("the port must be a number from 1 to 65535")
			}
			a.Address = net.JoinHostPort(u.Hostname(), port)
		}
		return a, nil
	case strings.HasPrefix(s, "unix:") && !digits(s[len("unix:"):]): // not the host "unix" and a port
		return bad(unixHint(s[len("unix:"):]))
	case strings.Contains(s, "://"):
		return bad("unknown scheme")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if !strings.Contains(s, ":") && (strings.Contains(s, "/") || strings.HasSuffix(s, ".sock")) {
			return bad("missing port; " + unixHint(s))
		}
		return bad("missing port")
	}
	if host == "" {
		return bad("missing host")
	}
	port, ok := parsePort(port)
	if !ok {
		return bad("the port must be a number from 1 to 65535")
	}
	return Addr{Network: "tcp", Address: net.JoinHostPort(host, port)}, nil
}

// unixHint says what to write instead for a unix socket at path (Python's
// _resp.unix_hint says the same).
func unixHint(path string) string {
	if strings.HasPrefix(path, "/") {
		return `for a unix socket write "unix://` + path + `"`
	}
	return `a unix socket address is "unix://" and then the absolute path, as in "unix:///tmp/cache.sock"`
}

// parsePort returns s as a port number written plainly ("05002" is
// "5002"), if it is one: at most 5 ASCII digits, 1 to 65535.
func parsePort(s string) (string, bool) {
	if len(s) > 5 || !digits(s) {
		return "", false
	}
	n, _ := strconv.Atoi(s)
	return strconv.Itoa(n), n >= 1 && n <= 65535
}

// digits reports whether s is ASCII digits only, at least one.
func digits(s string) bool {
	return s != "" && strings.TrimLeft(s, "0123456789") == ""
}

// Options configure a Client.
type Options struct {
	// Timeout bounds connecting and every call, each as a whole.
	Timeout time.Duration
	// MaxReply is how many bytes of replies one call may read, headers
	// included; a server that declares or sends more gets a protocol
	// error. 0 means resp.DefaultMaxReply.
	MaxReply int
	// Interrupted, if set, is asked when a signal interrupts a call's wait.
	// If it returns true the call ends with a KindInterrupted error;
	// otherwise the wait goes on, within the call's deadline.
	Interrupted func() bool
}

// Client is a connection to one server, safe for use by many goroutines:
// calls are serialised. A broken connection is re-dialled on the next call.
// A call that fails for any reason but an error reply drops the
// connection, so the next call starts on a clean one.
type Client struct {
	addr        Addr
	timeout     time.Duration
	maxReply    int
	interrupted func() bool

	mu     sync.Mutex // guards the fields below and the connection itself
	nc     *sockConn  // nil while disconnected
	rd     *resp.ReplyReader
	out    []byte
	closed bool

	// A call's Interrupted hook may run code that uses this client (a
	// Python signal handler): that code must fail, not wait for c.mu.
	hookThread atomic.Int64 // the thread running the hook, 0 if none
	closeLater atomic.Bool  // Close was called from the hook
}

// Dial connects to addr. timeout bounds connecting and every later call.
func Dial(addr string, timeout time.Duration) (*Client, error) {
	return DialWith(addr, Options{Timeout: timeout})
}

// DialWith connects to addr with the given options.
func DialWith(addr string, o Options) (*Client, error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		return nil, &Error{KindArg, "timeout must be positive"}
	}
	if o.MaxReply < 0 {
		return nil, &Error{KindArg, "the reply size limit must not be negative"}
	}
	if o.MaxReply == 0 {
		o.MaxReply = resp.DefaultMaxReply
	}
	c := &Client{addr: a, timeout: o.Timeout, maxReply: o.MaxReply, interrupted: o.Interrupted}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connect(time.Now().Add(o.Timeout)); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the connection. Later calls fail. Called from the
// Interrupted hook of a call, it takes effect when that call ends.
func (c *Client) Close() {
	if !c.lock() {
		c.closeLater.Store(true)
		return
	}
	defer c.mu.Unlock()
	c.drop()
	c.closed = true
}

// lock takes c.mu, or returns false if this thread is running the
// Interrupted hook of the call that holds it and would wait forever.
func (c *Client) lock() bool {
	if c.mu.TryLock() {
		return true
	}
	if t := c.hookThread.Load(); t != 0 && t == threadID() {
		return false
	}
	c.mu.Lock()
	return true
}

// unlock releases c.mu, first closing the client if the Interrupted hook
// asked to.
func (c *Client) unlock() {
	if c.closeLater.Load() {
		c.drop()
		c.closed = true
	}
	c.mu.Unlock()
}

// askInterrupted runs the Interrupted hook, noting which thread runs it.
func (c *Client) askInterrupted() bool {
	c.hookThread.Store(threadID())
	defer c.hookThread.Store(0)
	return c.interrupted()
}

// connect dials and, if configured, authenticates and selects the
// database, all by deadline (zero = none). c.mu must be held.
func (c *Client) connect(deadline time.Time) error {
	nc, err := dialSock(c.addr.Network, c.addr.Address, deadline)
	if err != nil {
		return classify(err, "cannot connect to "+c.addr.Address)
	}
	if c.interrupted != nil {
		nc.interrupted = c.askInterrupted
	}
	c.nc, c.rd = nc, resp.NewReplyReader(nc)
	if c.addr.Password != "" {
		if err := c.exchange(deadline, readOK, [][]byte{[]byte("AUTH"), []byte(c.addr.Password)}); err != nil {
			c.drop()
			return err
		}
	}
	if c.addr.DB != 0 {
		if err := c.exchange(deadline, readOK, [][]byte{[]byte("SELECT"), []byte(strconv.Itoa(c.addr.DB))}); err != nil {
			c.drop()
			return err
		}
	}
	return nil
}

// drop closes the connection, if any. c.mu must be held.
func (c *Client) drop() {
	if c.nc != nil {
		c.nc.Close()
		c.nc, c.rd = nil, nil
	}
}

// call sends one command and reads its reply with read. If the connection
// turns out to be broken and the command is safe to repeat (retry), it
// re-dials and tries once more; commands that change state on their own,
// like SET and GETDEL, are never sent twice.
func (c *Client) call(retry bool, read func(*resp.ReplyReader) error, args ...[]byte) error {
	return c.callWithin(c.timeout, retry, read, args)
}

// callWithin is call for any number of commands, with a time limit of its
// own (none if negative). The limit covers the whole call: re-dialling,
// writing, reading every reply, and the one retry.
func (c *Client) callWithin(timeout time.Duration, retry bool, read func(*resp.ReplyReader) error, cmds ...[][]byte) error {
	if !c.lock() {
		return &Error{KindArg, "a signal handler used the client whose call the signal interrupted"}
	}
	defer c.unlock()
	if c.closed {
		return &Error{KindArg, "the client is closed"}
	}
	var deadline time.Time // from when the call has the connection, as in the pure client
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	reused := c.nc != nil
	if !reused {
		if err := c.connect(deadline); err != nil {
			return err
		}
	}
	err := c.exchange(deadline, read, cmds...)
	if err != nil && retry && reused && kindOf(err) == KindConn {
		if err := c.connect(deadline); err != nil {
			return err
		}
		err = c.exchange(deadline, read, cmds...)
	}
	return err
}

// exchange writes the commands and reads their replies with read, by
// deadline (zero = none) and within the reply size limit. On any failure
// other than an error reply the connection is dropped, since its state is
// unknown. c.mu must be held.
func (c *Client) exchange(deadline time.Time, read func(*resp.ReplyReader) error, cmds ...[][]byte) error {
	c.nc.begin(deadline)
	c.rd.Limit(c.maxReply)
	err := c.send(cmds)
	if err == nil {
		err = read(c.rd)
	}
	if err == nil {
		return nil
	}
	if rerr, ok := asReplyError(err); ok {
		return &Error{KindServer, string(rerr)}
	}
	c.drop()
	return classify(err, "call to "+c.addr.Address+" failed")
}

// bigArg is the size above which an argument is written from the caller's
// memory rather than copied into the request buffer: a 1 MiB SET then
// costs no 1 MiB buffer in Go (allocated, zeroed, copied into and
// collected on every such call), only two more system calls.
const bigArg = 64 << 10

// send writes the commands as RESP: the small parts gathered in c.out,
// each big argument from where it is. c.mu must be held.
func (c *Client) send(cmds [][][]byte) error {
	out := c.out[:0]
	for _, args := range cmds {
		out = resp.AppendArray(out, len(args))
		for _, a := range args {
			if len(a) <= bigArg {
				out = resp.AppendBulk(out, a)
				continue
			}
			out = resp.AppendBulkHeader(out, len(a))
			if _, err := c.nc.Write(out); err != nil {
				return err
			}
			if _, err := c.nc.Write(a); err != nil {
				return err
			}
			out = append(out[:0], '\r', '\n')
		}
	}
	_, err := c.nc.Write(out)
	c.out = out[:0]
	if cap(out) > 1<<20 { // many small arguments: not kept for the calls after
		c.out = nil
	}
	return err
}

// The error helpers below are called only once a call has failed: the
// target errors.As writes to escapes to the heap, and declared on the
// call's path it would cost every call an allocation (and the garbage
// collector's wake-ups).

// kindOf is the Kind of err if it is an *Error, else 0.
func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// asReplyError returns err's error reply, if it is one.
func asReplyError(err error) (resp.ReplyError, bool) {
	var rerr resp.ReplyError
	ok := errors.As(err, &rerr)
	return rerr, ok
}

// errInterrupted ends a call whose wait a signal interrupted, when the
// client's Interrupted hook says so.
var errInterrupted = errors.New("interrupted by a signal")

func classify(err error, what string) error {
	var cerr *Error
	var perr *resp.ProtocolError
	var nerr net.Error
	switch {
	case errors.As(err, &cerr):
		return &Error{cerr.Kind, what + ": " + cerr.Msg}
	case errors.Is(err, errInterrupted):
		return &Error{KindInterrupted, what + ": " + err.Error()}
	case errors.As(err, &perr):
		return &Error{KindProto, what + ": " + perr.Error()}
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return &Error{KindTimeout, what + ": timed out"}
	}
	return &Error{KindConn, what + ": " + err.Error()}
}

// Set stores value under key.
func (c *Client) Set(key, value []byte) error {
	return c.call(false, readOK, []byte("SET"), key, value)
}

// Get returns the value under key; ok is false when there is none.
func (c *Client) Get(key []byte) (value []byte, ok bool, err error) {
	return c.GetIn(key, nil)
}

// GetIn is Get with the value read into memory from alloc(n), which must
// return n bytes, of which the value takes all but the last two, or nil if
// it cannot. A caller that wants values outside Go's heap thus needs no
// copy of its own. alloc is only asked for sizes within the reply limit.
func (c *Client) GetIn(key []byte, alloc func(n int) []byte) (value []byte, ok bool, err error) {
	err = c.call(true, func(r *resp.ReplyReader) error {
		value, ok, err = readBulkIn(r, alloc)
		return err
	}, []byte("GET"), key)
	return value, ok, err
}

// GetDel removes key and returns its value, atomically.
func (c *Client) GetDel(key []byte) (value []byte, ok bool, err error) {
	return c.GetDelIn(key, nil)
}

// GetDelIn is GetDel with the value read into memory from alloc, as GetIn.
func (c *Client) GetDelIn(key []byte, alloc func(n int) []byte) (value []byte, ok bool, err error) {
	err = c.call(false, func(r *resp.ReplyReader) error {
		value, ok, err = readBulkIn(r, alloc)
		return err
	}, []byte("GETDEL"), key)
	return value, ok, err
}

// Del removes key and returns 1 if it was there, else 0.
func (c *Client) Del(key []byte) (n int64, err error) {
	err = c.call(true, func(r *resp.ReplyReader) error {
		n, err = readInt(r)
		return err
	}, []byte("DEL"), key)
	return n, err
}

// Push appends value to the list under key (RPUSH), or prepends it if left
// (LPUSH), and returns the list's new length. It is not retried.
func (c *Client) Push(key, value []byte, left bool) (n int64, err error) {
	name := []byte("RPUSH")
	if left {
		name = []byte("LPUSH")
	}
	err = c.call(false, func(r *resp.ReplyReader) error {
		n, err = readInt(r)
		return err
	}, name, key, value)
	return n, err
}

// DBSize returns the number of keys.
func (c *Client) DBSize() (n int64, err error) {
	err = c.call(true, func(r *resp.ReplyReader) error {
		n, err = readInt(r)
		return err
	}, []byte("DBSIZE"))
	return n, err
}

// Keys returns the keys that match the glob pattern.
func (c *Client) Keys(pattern []byte) (keys [][]byte, err error) {
	err = c.call(true, func(r *resp.ReplyReader) error {
		keys = nil
		n, err := readHeader(r, '*')
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			k, ok, err := readBulk(r)
			if err != nil {
				return err
			}
			if !ok {
				return &resp.ProtocolError{Msg: "null key in KEYS reply"}
			}
			keys = append(keys, k)
		}
		return nil
	}, []byte("KEYS"), pattern)
	return keys, err
}

// MGet returns the values under keys, nil where a key is missing.
func (c *Client) MGet(keys [][]byte) (vals [][]byte, err error) {
	args := append([][]byte{[]byte("MGET")}, keys...)
	err = c.call(true, func(r *resp.ReplyReader) error {
		return readMGet(r, len(keys), &vals)
	}, args...)
	return vals, err
}

// readMGet reads MGET's reply of count values into *vals.
func readMGet(r *resp.ReplyReader, count int, vals *[][]byte) error {
	n, err := readHeader(r, '*')
	if err != nil {
		return err
	}
	if n != count {
		return &resp.ProtocolError{Msg: fmt.Sprintf("MGET of %d keys answered with %d values", count, n)}
	}
	*vals = make([][]byte, n)
	for i := range *vals {
		if (*vals)[i], _, err = readBulk(r); err != nil {
			if readable(err) == nil { // the rest of the array is unread: the connection is out of step
				return &resp.ProtocolError{Msg: "an error reply inside MGET's reply"}
			}
			return err
		}
	}
	return nil
}

// GetDeadlineIn is GetIn and PEXPIRETIME of the same key, sent in one
// write: the value (read into memory from alloc, as GetIn) and the key's
// deadline in Unix milliseconds (-1: none, -2: no such key), for a caller
// that keeps the value until then. Both replies are read even when the
// first is an error reply, which is then returned.
func (c *Client) GetDeadlineIn(key []byte, alloc func(n int) []byte) (value []byte, ok bool, deadline int64, err error) {
	err = c.callWithin(c.timeout, true, func(r *resp.ReplyReader) error {
		var gerr error
		value, ok, gerr = readBulkIn(r, alloc)
		if err := readable(gerr); err != nil {
			return err
		}
		deadline, err = readInt(r)
		return firstErr(gerr, err)
	}, [][]byte{[]byte("GET"), key}, [][]byte{[]byte("PEXPIRETIME"), key})
	return value, ok, deadline, err
}

// MGetDeadlines is MGet and PEXPIRETIME of each key, sent in one write:
// the values, nil where a key is missing, and each key's deadline as
// GetDeadlineIn gives it. Every reply is read before an error reply is
// returned.
func (c *Client) MGetDeadlines(keys [][]byte) (vals [][]byte, deadlines []int64, err error) {
	cmds := make([][][]byte, 0, 1+len(keys))
	cmds = append(cmds, append([][]byte{[]byte("MGET")}, keys...))
	for _, k := range keys {
		cmds = append(cmds, [][]byte{[]byte("PEXPIRETIME"), k})
	}
	err = c.callWithin(c.timeout, true, func(r *resp.ReplyReader) error {
		vals, deadlines = nil, make([]int64, len(keys))
		first := readMGet(r, len(keys), &vals)
		if err := readable(first); err != nil {
			return err
		}
		for i := range deadlines {
			var err error
			deadlines[i], err = readInt(r)
			if err := readable(err); err != nil {
				return err
			}
			first = firstErr(first, err)
		}
		return first
	}, cmds...)
	return vals, deadlines, err
}

// readable returns err unless it is an error reply, after which the
// connection is still in step and the next reply can be read.
func readable(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := asReplyError(err); !ok {
		return err
	}
	return nil
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Do sends any command and returns the raw RESP reply, error replies
// included. It is not retried.
func (c *Client) Do(args ...[]byte) (raw []byte, err error) {
	return c.DoRetry(false, args...)
}

// DoRetry is Do, retried once on a fresh connection if retry is set and
// the connection it found turns out broken: for a command that is safe to
// repeat, such as a read.
func (c *Client) DoRetry(retry bool, args ...[]byte) (raw []byte, err error) {
	err = c.call(retry, func(r *resp.ReplyReader) error {
		raw, err = r.Raw(nil)
		return err
	}, args...)
	return raw, err
}

// DoWait is Do for a command that may block on the server, such as BLPOP:
// the time limit is the client's timeout plus wait, or none if wait < 0.
func (c *Client) DoWait(wait time.Duration, args ...[]byte) (raw []byte, err error) {
	timeout := c.timeout + wait
	if wait < 0 {
		timeout = -1
	}
	err = c.callWithin(timeout, false, func(r *resp.ReplyReader) error {
		raw, err = r.Raw(nil)
		return err
	}, args)
	return raw, err
}

// Pipeline sends all the commands in one write and returns their raw
// replies, concatenated in order. It is not retried.
func (c *Client) Pipeline(cmds [][][]byte) (raw []byte, err error) {
	return c.PipelineRetry(false, cmds)
}

// PipelineRetry is Pipeline, retried as DoRetry is: retry only if every
// command is safe to repeat.
func (c *Client) PipelineRetry(retry bool, cmds [][][]byte) (raw []byte, err error) {
	err = c.callWithin(c.timeout, retry, func(r *resp.ReplyReader) error {
		raw = nil
		for range cmds {
			if raw, err = r.Raw(raw); err != nil {
				return err
			}
		}
		return nil
	}, cmds...)
	return raw, err
}

func readOK(r *resp.ReplyReader) error {
	kind, line, err := r.Line()
	switch {
	case err != nil:
		return err
	case kind == '-':
		return resp.ReplyError(line)
	case kind != '+':
		return &resp.ProtocolError{Msg: "expected a status reply, got '" + string(kind) + "'"}
	}
	return nil
}

// readHeader reads a reply that should be of the given kind and returns its
// integer.
func readHeader(r *resp.ReplyReader, want byte) (int, error) {
	kind, line, err := r.Line()
	switch {
	case err != nil:
		return 0, err
	case kind == '-':
		return 0, resp.ReplyError(line)
	case kind != want:
		return 0, &resp.ProtocolError{Msg: "expected '" + string(want) + "' reply, got '" + string(kind) + "'"}
	}
	return resp.Int(line)
}

func readInt(r *resp.ReplyReader) (int64, error) {
	n, err := readHeader(r, ':')
	return int64(n), err
}

func readBulk(r *resp.ReplyReader) ([]byte, bool, error) {
	return readBulkIn(r, nil)
}

// readBulkIn reads a bulk string into memory from alloc, if not nil.
func readBulkIn(r *resp.ReplyReader, alloc func(int) []byte) ([]byte, bool, error) {
	n, err := readHeader(r, '$')
	if err != nil || n < 0 {
		return nil, false, err
	}
	if err := r.Admit(n + 2); err != nil {
		return nil, false, err
	}
	var buf []byte // with no alloc, Body grows it as the value arrives
	if alloc != nil {
		if buf = alloc(n + 2); buf == nil {
			return nil, false, &Error{KindProto, fmt.Sprintf("cannot allocate %d bytes for a value", n)}
		}
	}
	v, err := r.Body(buf[:0], n)
	return v, err == nil, err
}
