package server

// pushBatch gathers the pushes one command sends (pub/sub messages,
// tracking invalidations) and sends them once it is done, each client's in
// one piece. Those for self, the client whose command runs, go to out,
// its replies; the others go through from.push, which writes at once to
// clients on from, the loop running the command, and hands the rest to
// their own loops.
type pushBatch struct {
	from    *loop
	self    *conn
	out     []byte
	pending []pendingPush
	index   map[*conn]int // into pending
}

type pendingPush struct {
	to  *conn
	buf []byte
}

// bufFor returns the buffer to append to's pushes to.
func (b *pushBatch) bufFor(to *conn) *[]byte {
	if to == b.self {
		return &b.out
	}
	i, ok := b.index[to]
	if !ok {
		if b.index == nil {
			b.index = make(map[*conn]int)
		}
		i = len(b.pending)
		b.index[to] = i
		b.pending = append(b.pending, pendingPush{to: to})
	}
	return &b.pending[i].buf
}

// send hands each client other than self its pushes.
func (b *pushBatch) send() {
	for _, p := range b.pending {
		b.from.push(p.to, p.buf)
	}
}
