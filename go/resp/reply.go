package resp

import (
	"bufio"
	"io"
	"strconv"
)

// ReplyError is an error reply sent by the server, such as
// "ERR unknown command". The connection stays usable after one.
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

const (
	// DefaultMaxReply is how many bytes of replies one call may read
	// unless the client says otherwise: Redis's proto-max-bulk-len.
	DefaultMaxReply = 512 << 20
	// MaxReplyDepth is how deeply aggregates may nest in a reply. Redis's
	// own replies nest a few levels at most.
	MaxReplyDepth = 64
)

// ReplyReader reads the replies a server sends, for clients. It trusts
// nothing the server declares: every length is checked against what is
// left of the current call's limit before memory is set aside for it,
// bulk strings grow only as their bytes arrive, and nesting is bounded.
type ReplyReader struct {
	r    *bufio.Reader
	max  int // the limit Limit last set
	left int // bytes the current call may still read
}

// NewReplyReader returns a ReplyReader that reads from r, with a limit of
// DefaultMaxReply bytes until Limit sets another.
func NewReplyReader(r io.Reader) *ReplyReader {
	return &ReplyReader{r: bufio.NewReaderSize(r, 32<<10), max: DefaultMaxReply, left: DefaultMaxReply}
}

// Limit starts a call: the replies read until the next Limit may take at
// most max bytes in all, headers included.
func (rr *ReplyReader) Limit(max int) { rr.max, rr.left = max, max }

// tooBig is the error for a reply that would pass the limit.
func (rr *ReplyReader) tooBig(what string) error {
	return &ProtocolError{what + " exceeds the client's limit of " +
		strconv.Itoa(rr.max) + " bytes of reply per call (max_reply_size)"}
}

// Admit counts n more bytes against the current call's limit, or fails if
// they do not fit. Callers admit a bulk string's length and CRLF before
// they allocate anything for it, then read it with Body.
func (rr *ReplyReader) Admit(n int) error {
	if n > rr.left {
		return rr.tooBig("a bulk string of " + strconv.Itoa(n-2) + " bytes")
	}
	rr.left -= n
	return nil
}

// Line reads one reply header: its type byte and the rest of the line
// without CRLF. The line is valid until the next read.
func (rr *ReplyReader) Line() (byte, []byte, error) {
	line, err := rr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return 0, nil, &ProtocolError{"reply line too long"}
	}
	if err != nil {
		return 0, nil, err
	}
	if rr.left -= len(line); rr.left < 0 {
		return 0, nil, rr.tooBig("the reply")
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, nil, &ProtocolError{"reply line not ended by CRLF"}
	}
	return line[0], line[1 : len(line)-2], nil
}

// Int parses the integer of a ':', '$' or '*' header line.
func Int(line []byte) (int, error) {
	n, ok := parseInt(line)
	if !ok {
		return 0, &ProtocolError{"invalid integer " + strconvQuote(line)}
	}
	return n, nil
}

// Body reads the n bytes and CRLF of a bulk string whose header was read
// and whose length was admitted, appending the n bytes to dst. If dst has
// no room for them, it grows as the bytes arrive (up to 1 MiB ahead of
// them, then doubling), not by whatever n the server declared.
func (rr *ReplyReader) Body(dst []byte, n int) ([]byte, error) {
	end := len(dst) + n + 2
	for len(dst) < end {
		if len(dst) == cap(dst) {
			grow := min(end-len(dst), max(len(dst), 1<<20))
			dst = append(dst, make([]byte, grow)...)[:len(dst)]
		}
		got, err := rr.r.Read(dst[len(dst):min(cap(dst), end)])
		dst = dst[:len(dst)+got]
		if err == io.EOF && len(dst) < end {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && len(dst) < end {
			return nil, err
		}
	}
	if dst[end-2] != '\r' || dst[end-1] != '\n' {
		return nil, &ProtocolError{"bulk reply not followed by CRLF"}
	}
	return dst[:end-2], nil
}

// Raw reads one whole reply, nested aggregates included, and appends it to
// dst exactly as it was sent. It understands RESP3's types too.
func (rr *ReplyReader) Raw(dst []byte) ([]byte, error) {
	return rr.raw(dst, 0)
}

func (rr *ReplyReader) raw(dst []byte, depth int) ([]byte, error) {
	kind, line, err := rr.Line()
	if err != nil {
		return nil, err
	}
	dst = append(dst, kind)
	dst = append(dst, line...)
	dst = append(dst, '\r', '\n')
	switch kind {
	case '+', '-', ':', '_', '#', ',', '(':
		return dst, nil
	case '$', '=', '!':
		n, err := Int(line)
		if err != nil || n < 0 {
			return dst, err
		}
		if err := rr.Admit(n + 2); err != nil {
			return nil, err
		}
		b, err := rr.Body(dst, n)
		if err != nil {
			return nil, err
		}
		return append(b, '\r', '\n'), nil
	case '*', '~', '>', '%', '|':
		n, err := Int(line)
		if err != nil {
			return nil, err
		}
		if n > 0 && depth == MaxReplyDepth {
			return nil, &ProtocolError{"reply nested deeper than " + strconv.Itoa(MaxReplyDepth) + " levels"}
		}
		if kind == '%' || kind == '|' { // maps and attributes hold pairs
			n *= 2
		}
		for i := 0; i < n; i++ {
			if dst, err = rr.raw(dst, depth+1); err != nil {
				return nil, err
			}
		}
		return dst, nil
	}
	return nil, &ProtocolError{"unknown reply type " + strconvQuote([]byte{kind})}
}

func strconvQuote(b []byte) string {
	const max = 32
	if len(b) > max {
		b = b[:max]
	}
	return "'" + string(b) + "'"
}
