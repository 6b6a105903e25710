package resp

import (
	"bufio"
	"io"
)

// ReplyError is an error reply sent by the server, such as
// "ERR unknown command". The connection stays usable after one.
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

// ReplyReader reads the replies a server sends, for clients.
type ReplyReader struct {
	r *bufio.Reader
}

// NewReplyReader returns a ReplyReader that reads from r.
func NewReplyReader(r io.Reader) *ReplyReader {
	return &ReplyReader{r: bufio.NewReaderSize(r, 32<<10)}
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

// Body reads the n bytes and CRLF of a bulk string whose header was read,
// appending the n bytes to dst.
func (rr *ReplyReader) Body(dst []byte, n int) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, n+2)...)
	if _, err := io.ReadFull(rr.r, dst[start:]); err != nil {
		return nil, err
	}
	if dst[len(dst)-2] != '\r' || dst[len(dst)-1] != '\n' {
		return nil, &ProtocolError{"bulk reply not followed by CRLF"}
	}
	return dst[:len(dst)-2], nil
}

// Raw reads one whole reply, nested aggregates included, and appends it to
// dst exactly as it was sent. It understands RESP3's types too.
func (rr *ReplyReader) Raw(dst []byte) ([]byte, error) {
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
		if kind == '%' || kind == '|' { // maps and attributes hold pairs
			n *= 2
		}
		for i := 0; i < n; i++ {
			if dst, err = rr.Raw(dst); err != nil {
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
