// Package server serves a store over RESP2 on a TCP or Unix socket.
package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/internal/heapfloor"
	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// memoryLimitSlack is the room above max_memory (plus a quarter) given to
// the Go runtime's soft memory limit: buffers, goroutine stacks, garbage.
const memoryLimitSlack = 64 << 20

// Close lets each client receive the replies to the commands it has sent.
// A client that takes no reply bytes for drainStall is cut off; one that
// keeps reading is served to the end, for at most drainMax in all. A fixed
// deadline once cut off clients that were reading, only slowly, under load.
const (
	drainStall = 2 * time.Second
	drainMax   = 60 * time.Second
)

// Server accepts clients and runs their commands against one store.
type Server struct {
	cfg   Config
	store *store.Store
	log   *slog.Logger
	logFD io.Closer // the log's own descriptor (Config.LogFD), closed last; nil for stderr
	ln    net.Listener

	mu      sync.Mutex
	loops   []*loop // guarded by mu until Serve has set it
	clients int     // guarded by mu
	closing bool    // guarded by mu

	// running is held while a command runs, on whichever loop: commands
	// run one at a time for all clients, as on a single loop. That keeps
	// MULTI/EXEC and multi-key commands atomic, and lets commands use the
	// server's counters and CLIENT TRACKING's client table unlocked. What
	// the loops do in parallel is the rest: waiting, reading, parsing and
	// writing, most of a small command's cost.
	running sync.Mutex
	blocked atomic.Int64 // clients waiting in a blocking pop or move

	wg      sync.WaitGroup // one per client
	done    chan struct{}  // closed when Serve has returned and all conns ended
	stop    chan struct{}  // closed when Close begins
	release chan struct{}  // a big buffer was dropped: see releaseLoop

	started   time.Time
	runID     string       // INFO's run_id: 40 random hex digits
	clientIDs atomic.Int64 // the last client id given out
	stats     *stats
	tracking  *tracking // CLIENT TRACKING's table of who read which key
	pubsub    *pubsub   // who listens on which channel and pattern; guarded by running

	scripts scriptCache               // guarded by running
	lua     *luaEnv                   // the Lua state for the next script; guarded by running
	script  atomic.Pointer[scriptRun] // the script running now, if any: see scripting.go

	clientTable map[int64]*conn // the connected clients, by id (clients.go); guarded by running

	// The near cache's table of versions (near.go), on a unix socket;
	// nil, with nearOff saying why, when there is none.
	near     *nearTable
	nearOff  string
	slabs    slabPool  // shared values' memory, reused (slabs.go)
	nearOnce sync.Once // shareNear's: the table starts taking bumps
}

// Listen validates cfg and binds its address. A Unix socket file left by a
// dead server is replaced; one that a live server answers on, or anything
// else than a socket, is an error.
func Listen(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, &ConfigError{err}
	}
	log, logFD, err := openLog(cfg)
	if err != nil {
		return nil, &ConfigError{err}
	}
	tr := newTracking(cfg.TrackingMaxKeys)
	s := &Server{
		cfg: cfg,
		store: store.New(store.Config{
			MaxMemory: int64(cfg.MaxMemory),
			NoEvict:   cfg.EvictionPolicy == "noeviction",
			Changed:   tr.changed,
		}),
		tracking: tr,
		pubsub:   newPubsub(),
		log:      log,
		logFD:    logFD,
		done:     make(chan struct{}),
		stop:     make(chan struct{}),
		release:  make(chan struct{}, 1),

		started: time.Now(),
		runID:   newRunID(),
		stats:   newStats(),
	}
	if cfg.MaxMemory > 0 {
		s.setMemoryLimit(cfg.MaxMemory, cfg.EvictionPolicy)
	}
	heapfloor.Keep()
	if cfg.Network == "unix" {
		s.ln, err = listenUnix(cfg.Addr, os.FileMode(cfg.UnixMode))
	} else {
		s.ln, err = net.Listen("tcp", cfg.Addr)
	}
	if err != nil {
		s.closeLog()
		return nil, err
	}
	s.openNear()
	s.log.Info("listening", "network", cfg.Network, "addr", s.ln.Addr().String())
	return s, nil
}

// openNear gives a unix-socket server its near cache's table, once it owns
// the socket path: a predecessor's table is fenced first. Changes bump the
// table only once a client has asked for it (shareNear).
func (s *Server) openNear() {
	if s.cfg.Network != "unix" {
		s.nearOff = "the server listens on TCP: clients over TCP share no memory with it (listen on a unix socket)"
		return
	}
	n, err := openNear(s.cfg.Addr)
	if err != nil {
		s.nearOff = err.Error()
		s.log.Warn("no near cache", "err", err)
		return
	}
	s.near = n
}

// shareNear makes every change to a key bump the near cache's table as
// well as tell tracking clients, from the first CLIENT NEARCACHE on; until
// then writes skip the table (a crc32 and an atomic add each), since no
// client has it. That is safe because SetChanged returns only once no
// write is under way: every write after it bumps, and a client reads
// nothing it could keep before its CLIENT NEARCACHE has been answered.
func (s *Server) shareNear() {
	s.nearOnce.Do(func() {
		n, tr := s.near, s.tracking
		s.store.SetChanged(func(key string, flushed bool) {
			n.changed(key, flushed)
			tr.changed(key, flushed)
		})
	})
}

// closeNear marks the near cache's table dead, once no command runs: its
// clients then serve nothing they read from this server.
func (s *Server) closeNear() {
	if s.near != nil {
		s.store.SetChanged(s.tracking.changed)
		s.near.close()
	}
}

// listenUnix listens on a Unix socket at path. Whatever is at path already
// stays, unless it is a stale socket: a socket (or a symbolic link to one)
// that refuses connections, as a killed server leaves behind.
func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func newRunID() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// removeStaleSocket removes the socket file at path if no server listens on
// it. It fails if path is anything but a socket or absent.
func removeStaleSocket(path string) error {
	link, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	what := ""
	if link.Mode()&fs.ModeSymlink != 0 {
		what = "a symbolic link to "
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s is a dangling symbolic link, not a socket: remove it or choose another path", path)
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSocket == 0:
		return fmt.Errorf("%s is %s%s, not a socket: remove it or choose another path", path, what, fileKind(fi.Mode()))
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	switch {
	case err == nil:
		c.Close()
		return fmt.Errorf("a server is already listening on %s", path)
	case !errors.Is(err, syscall.ECONNREFUSED):
		// A full backlog (EAGAIN) or a timeout means someone is there.
		return fmt.Errorf("cannot tell whether a server listens on %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing stale socket %s: %w", path, err)
	}
	return nil
}

// fileKind names a file's type with an article, for error messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// ConfigError is an invalid Config, as opposed to a failure to bind.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Done is closed once the server has stopped and every client is gone.
func (s *Server) Done() <-chan struct{} { return s.done }

// Serve accepts connections until Close is called, and serves them on
// Config.Loops event loops, each with the connections it was handed.
func (s *Server) Serve() {
	var loops []*loop
	for range s.cfg.Loops {
		l, err := newLoop(s)
		if err != nil {
			s.log.Error("cannot start an event loop", "err", err)
			for _, l := range loops {
				l.release()
			}
			s.Close()
			return
		}
		loops = append(loops, l)
	}
	s.mu.Lock()
	if s.closing { // Close came first and has closed done
		s.mu.Unlock()
		for _, l := range loops {
			l.release()
		}
		return
	}
	s.loops = loops
	s.mu.Unlock()
	if loopHoldsP {
		holdPs(len(loops))
		defer holdPs(-len(loops))
	}
	defer close(s.done)
	go s.expireLoop()
	go s.releaseLoop()
	var ended sync.WaitGroup
	ended.Add(len(loops))
	for _, l := range loops {
		go func() {
			defer ended.Done()
			l.run()
		}()
	}
	s.accept()
	s.wg.Wait()
	for _, l := range loops {
		l.post(func() { l.stopped = true })
	}
	ended.Wait()
}

// heldPs counts the event loops running in this process, each of which
// holds a P while it waits (see loop.wait). guarded by heldMu.
var (
	heldMu sync.Mutex
	heldPs int
)

// holdPs counts n more running loops (fewer if negative) and makes sure
// that GOMAXPROCS leaves at least one P to the rest of the process: the
// acceptor, timers, the garbage collector and, in a library, the caller's
// own goroutines. It never lowers GOMAXPROCS.
func holdPs(n int) {
	heldMu.Lock()
	defer heldMu.Unlock()
	heldPs += n
	if runtime.GOMAXPROCS(0) <= heldPs {
		runtime.GOMAXPROCS(heldPs + 1)
	}
}

// pick returns the loop that serves a new client: the one with the fewest
// clients, so that a few long-lived connections, the usual case, spread
// over the loops; not the loop that runs a script, if there is another,
// so that a new client can send SCRIPT KILL.
func (s *Server) pick() *loop {
	var running *loop
	if r := s.script.Load(); r != nil && len(s.loops) > 1 {
		running = r.c.loop
	}
	var best *loop
	for _, l := range s.loops {
		if l != running && (best == nil || l.load.Load() < best.load.Load()) {
			best = l
		}
	}
	best.load.Add(1)
	return best
}

// everyLoop posts f to each loop, to run there with that loop.
func (s *Server) everyLoop(f func(l *loop)) {
	for _, l := range s.loops {
		l.post(func() { f(l) })
	}
}

func (s *Server) accept() {
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.isClosing() {
				return
			}
			// Out of file descriptors and the like: back off and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.register() {
			s.stats.rejected.Add(1)
			s.log.Warn("refused client: too many clients", "max_clients", s.cfg.MaxClients)
			go refuse(nc, "ERR max number of clients reached")
			continue
		}
		s.stats.connections.Add(1)
		c, err := s.newConn(nc)
		if err != nil {
			s.log.Warn("cannot take over client socket", "err", err)
			s.unregister()
			continue
		}
		l := s.pick()
		c.loop = l
		l.post(func() { l.add(c) })
	}
}

// refuse sends a client one error and hangs up gracefully: it stops
// writing, then reads and drops what the client still sends for a moment.
// Closing at once would reset a connection with unread input, and the reset
// can destroy the error before the client reads it.
func refuse(nc net.Conn, msg string) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Second))
	if _, err := nc.Write(resp.AppendError(nil, msg)); err != nil {
		return
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
}

// register counts a new client, unless the server is full or closing.
func (s *Server) register() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.clients >= s.cfg.MaxClients {
		return false
	}
	s.clients++
	s.wg.Add(1)
	return true
}

func (s *Server) unregister() {
	s.mu.Lock()
	s.clients--
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Clients returns the number of connected clients.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients
}

// Close stops accepting, lets every client finish the commands it has sent
// and receive their replies, then disconnects them and removes the Unix
// socket file. A client that reads none of its replies for drainStall is
// cut off, and so is every client still there after drainMax.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closing = true
	close(s.stop)
	err := s.ln.Close()
	serving := s.loops != nil
	s.mu.Unlock()
	if !serving { // Serve never ran
		s.closeNear()
		s.slabs.close()
		s.log.Info("stopped", "addr", s.ln.Addr().String())
		s.closeLog()
		close(s.done)
		return err
	}
	s.everyLoop((*loop).drain)
	check := time.NewTicker(drainStall / 4)
	defer check.Stop()
	giveUp := time.NewTimer(drainMax)
	defer giveUp.Stop()
wait:
	for {
		select {
		case <-s.done:
			break wait
		case <-check.C:
			s.everyLoop((*loop).cutStalled)
		case <-giveUp.C:
			s.everyLoop((*loop).closeAll)
			<-s.done
			break wait
		}
	}
	s.closeNear()
	s.slabs.close()
	s.log.Info("stopped", "addr", s.ln.Addr().String())
	s.closeLog()
	return err
}

// closeLog closes the log's own descriptor, if it has one, after the last
// record a stop writes: a reader of it sees the end there.
func (s *Server) closeLog() {
	if s.logFD != nil {
		s.logFD.Close()
	}
}

// expireTick is how often expired keys are reclaimed in the background, and
// expireBatch how many one pass may reclaim before it lets clients in.
const (
	expireTick  = 100 * time.Millisecond
	expireBatch = 200
	expireSlice = 25 * time.Millisecond
)

// expireLoop reclaims keys whose deadline has passed, so memory held by
// keys nobody reads again is returned. Each tick works on expired keys only,
// in small locked batches, and for at most expireSlice.
func (s *Server) expireLoop() {
	t := time.NewTicker(expireTick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			deadline := time.Now().Add(expireSlice)
			for s.store.ExpireDue(expireBatch) == expireBatch && time.Now().Before(deadline) {
			}
			if s.tracking.queued.Load() { // keys that tracking clients read expired
				l := s.loops[0]
				l.post(func() {
					s.lockData()
					defer s.running.Unlock()
					s.deliver(l, nil, nil)
				})
			}
		}
	}
}

// appendNull appends "no value": RESP2's null bulk string or RESP3's null.
func (c *conn) appendNull(out []byte) []byte {
	if c.resp3 {
		return resp.AppendNull3(out)
	}
	return resp.AppendNull(out)
}

// appendNullArray appends RESP2's null array or RESP3's null.
func (c *conn) appendNullArray(out []byte) []byte {
	if c.resp3 {
		return resp.AppendNull3(out)
	}
	return resp.AppendNullArray(out)
}

// appendMap appends the header of a map of n pairs: a RESP3 map, or in RESP2
// an array of 2n elements.
func (c *conn) appendMap(out []byte, n int) []byte {
	if c.resp3 {
		return resp.AppendMap(out, n)
	}
	return resp.AppendArray(out, 2*n)
}

// maxPending is how many reply bytes a connection buffers before writing
// them out, even while more pipelined commands are waiting.
const maxPending = 64 << 10
