//go:build !linux || tmc_portable

package server

import (
	"sync"
	"time"
)

// pusher writes a subscribed client's output on the portable loop, where
// each client's goroutine owns its connection and may be waiting in a
// read when another client publishes. Replies (queued by the client's
// goroutine under Server.running, right after each command) and messages
// (queued by publishers, also under it) share one queue, so they go out in
// the order the commands ran; one goroutine at a time writes it.
//
// The queue is bounded by the client class's output limits: a subscriber
// that leaves more than max_output_pubsub bytes unread, or more than the
// soft limit for its seconds on end, is closed, as in Redis.
type pusher struct {
	c *conn

	mu        sync.Mutex
	idle      sync.Cond // signalled when writing ends
	queue     []byte    // not yet taken by the writer
	inflight  int       // taken by the writer and not yet written
	writing   bool      // a writer goroutine runs
	dead      bool      // closed: nothing more is queued or written
	softSince time.Time // since when the soft limit is passed, if it is
}

func newPusher(c *conn) *pusher {
	p := &pusher{c: c}
	p.idle.L = &p.mu
	return p
}

// take queues out for writing and returns it emptied, to be reused.
func (p *pusher) take(out []byte) []byte {
	if len(out) > 0 {
		p.add(out)
	}
	return out[:0]
}

// add queues b, or closes the client if that passes its output limits.
func (p *pusher) add(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return
	}
	p.queue = append(p.queue, b...)
	unsent := len(p.queue) + p.inflight
	if limit := p.c.maxOutput(); unsent > limit {
		p.c.s.log.Warn("closing a client whose unread pushes passed its output limit",
			"remote", p.c.remote, "unsent", unsent, "limit", limit)
		p.kill()
		return
	}
	after, bound := p.c.softOutput()
	switch {
	case bound == 0 || unsent <= bound:
		p.softSince = time.Time{}
	case p.softSince.IsZero():
		p.softSince = time.Now()
	case time.Since(p.softSince) >= after:
		p.c.s.log.Warn("closing a client whose unread replies stayed past its soft output limit",
			"remote", p.c.remote, "unsent", unsent, "soft_limit", bound, "seconds", after.Seconds())
		p.kill()
		return
	}
	if !p.writing {
		p.writing = true
		go p.write()
	}
}

// kill drops the queue and closes the connection: the client's goroutine
// then finds it closed and ends it. p.mu must be held.
func (p *pusher) kill() {
	p.dead = true
	p.queue = nil
	p.c.nc.Close()
}

// write writes the queue until it is empty.
func (p *pusher) write() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 && !p.dead {
		q := p.queue
		p.queue, p.inflight = nil, len(q)
		p.mu.Unlock()
		var err error
		for len(q) > 0 && err == nil {
			var n int
			n, err = p.c.nc.Write(q[:min(len(q), flushPiece)])
			p.c.written.Add(int64(n))
			q = q[n:]
			p.mu.Lock()
			p.inflight = len(q)
			p.mu.Unlock()
		}
		p.mu.Lock()
		if err != nil {
			p.kill()
		}
	}
	p.inflight = 0
	p.writing = false
	p.idle.Broadcast()
}

// alive reports whether the connection still works.
func (p *pusher) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.dead
}

// finish waits until what is queued is written (or the connection
// failed), and stops p.
func (p *pusher) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.writing {
		p.idle.Wait()
	}
	p.dead = true
}
