// Package resp reads and writes RESP2, the Redis serialization protocol.
//
// A Reader parses the commands a client sends, within configurable limits,
// without allocating once its buffers have grown to the working size.
// The Append functions encode replies onto a byte slice.
package resp

import (
	"bytes"
	"errors"
	"io"
)

// Limits bound what one client may make the server hold in memory.
type Limits struct {
	MaxBulk   int // longest bulk string (one argument), in bytes
	MaxArgs   int // most arguments in one command
	MaxInline int // longest inline command (a line not starting with '*')
	MaxQuery  int // most bytes buffered for one command

	// Unauthenticated marks the tighter limits of a client that has not
	// given the password yet; the errors say so, as Redis's do.
	Unauthenticated bool
}

// BeforeAuth returns lim tightened for a client that has not given the
// password, as Redis does: at most 10 arguments of at most 16 KiB each, so
// that an anonymous client cannot make the server buffer more.
func (lim Limits) BeforeAuth() Limits {
	lim.MaxBulk = min(lim.MaxBulk, 16<<10)
	lim.MaxArgs = min(lim.MaxArgs, 10)
	lim.Unauthenticated = true
	return lim
}

// DefaultLimits are the limits Redis uses for the same things.
var DefaultLimits = Limits{
	MaxBulk:   512 << 20,
	MaxArgs:   1 << 20,
	MaxInline: 64 << 10,
	MaxQuery:  1 << 30,
}

// ErrIncomplete is returned by Next when the buffer holds no whole command.
var ErrIncomplete = errors.New("resp: incomplete command")

// ProtocolError is a malformed or oversized request. The server answers it
// with an error reply and closes the connection.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

const (
	minBuffer = 16 << 10  // the read buffer never shrinks below this
	keepLimit = 256 << 10 // an idle buffer larger than this is dropped
	maxHeader = 32        // longest "*<n>" or "$<n>" line, CRLF included

	// An argument of at least bigArg bytes that has not all arrived is
	// read straight into an allocation of its own, the one the store can
	// keep (see Owns), rather than into the buffer, which would grow to
	// hold it and then be copied from.
	bigArg = minBuffer
	// maxKeyRoom is the longest argument before a big one (the key of a
	// SET) that the big one's allocation has room for after its end: the
	// store keeps a key after its value, in the same allocation.
	maxKeyRoom = 1 << 10
	// maxTurn is the most one Fill reads into a big argument, so that a
	// client sending a huge value takes turns with the others.
	maxTurn = 1 << 20
)

// Reader parses commands from a stream. Next parses only what is already
// buffered; Fill reads more. A parse that needs more data resumes where it
// stopped, so a command that trickles in is never scanned twice.
type Reader struct {
	r   io.Reader
	lim Limits
	buf []byte
	beg int // start of the command being parsed
	end int // end of the data read so far

	// State of a partly parsed array command at buf[beg:].
	inArray bool
	want    int   // elements the array header announced
	pos     int   // where parsing resumes
	marks   []int // start and end of each argument parsed so far
	args    [][]byte
	need    int // bytes from beg up to the end of a big argument still arriving

	// Big arguments of the command being parsed, read outside buf: a mark
	// of -1-i stands for bigs[i]. The last one's rest is still to come,
	// then its CRLF (at pos in buf) if crlf is set.
	bigs    [][]byte
	rest    []byte
	crlf    bool
	outside int // bytes in bigs, which count toward MaxQuery
	letGo   int // bytes of bigs let go of since Shrink last said
}

// SetLimits changes the limits for the commands parsed from now on, as
// when a client has authenticated.
func (rd *Reader) SetLimits(lim Limits) { rd.lim = lim }

// NewReader returns a Reader that reads from r within lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{r: r, lim: lim, buf: make([]byte, minBuffer)}
}

// Buffered reports whether unparsed bytes are waiting in the buffer.
func (rd *Reader) Buffered() bool { return rd.end > rd.beg }

// Next returns the next whole command in the buffer, or ErrIncomplete.
// The arguments point into the buffer and are valid until the next call.
// Empty commands (blank lines, "*0") are skipped.
func (rd *Reader) Next() ([][]byte, error) {
	for rd.beg < rd.end {
		var args [][]byte
		var err error
		if rd.inArray || rd.buf[rd.beg] == '*' {
			args, err = rd.parseArray()
		} else {
			args, err = rd.parseInline()
		}
		if err != nil || len(args) > 0 {
			return args, err
		}
	}
	return nil, ErrIncomplete
}

// Fill reads more bytes from the stream, growing the buffer when a single
// command does not fit. It fails with a ProtocolError once an unfinished
// command has reached MaxQuery bytes.
func (rd *Reader) Fill() error {
	if len(rd.rest) > 0 {
		n, err := rd.r.Read(rd.rest[:min(len(rd.rest), maxTurn)])
		rd.rest = rd.rest[n:]
		if n > 0 {
			return nil
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	rd.Shrink()
	if rd.end-rd.beg+rd.outside >= rd.lim.MaxQuery {
		return &ProtocolError{"too big request"}
	}
	if rd.end == len(rd.buf) {
		if rd.beg > 0 {
			rd.compact()
		} else {
			size := min(2*len(rd.buf), rd.lim.MaxQuery)
			if rd.need > len(rd.buf) && rd.need < size {
				size = rd.need // a big argument takes its size, not twice that
			}
			grown := make([]byte, size)
			copy(grown, rd.buf[:rd.end])
			rd.buf = grown
		}
	}
	n, err := rd.r.Read(rd.buf[rd.end:])
	rd.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// Shrink empties the buffer once every byte in it has been parsed, and
// drops it if a big command made it grow past keepLimit, so one huge value
// does not pin its memory; it lets go of the last command's big arguments
// too. It returns how many bytes it let go of. The arguments Next returned
// last are no longer valid afterwards.
func (rd *Reader) Shrink() int {
	if rd.beg != rd.end {
		return 0
	}
	rd.beg, rd.end, rd.pos = 0, 0, 0
	if !rd.inArray { // the last command has run: its big arguments are done with
		rd.dropBigs()
	}
	dropped := rd.letGo
	rd.letGo = 0
	if n := len(rd.buf); n > keepLimit {
		rd.buf = make([]byte, minBuffer)
		dropped += n
	}
	return dropped
}

// compact moves the unparsed bytes to the front of the buffer.
func (rd *Reader) compact() {
	shift := rd.beg
	copy(rd.buf, rd.buf[rd.beg:rd.end])
	rd.end -= shift
	rd.beg = 0
	rd.pos -= shift
	for i := 0; i < len(rd.marks); i += 2 {
		if rd.marks[i] >= 0 { // not one of bigs
			rd.marks[i] -= shift
			rd.marks[i+1] -= shift
		}
	}
}

// dropBigs lets go of the big arguments of the last command.
func (rd *Reader) dropBigs() {
	clear(rd.bigs)
	rd.bigs, rd.letGo, rd.outside = rd.bigs[:0], rd.letGo+rd.outside, 0
}

// Owns reports whether arg, an argument of the command Next returned last,
// was read into an allocation of its own that the Reader no longer uses:
// the caller may keep it, and write after its end up to its capacity.
func (rd *Reader) Owns(arg []byte) bool {
	for _, b := range rd.bigs {
		if len(b) > 0 && len(b) == len(arg) && &b[0] == &arg[0] {
			return true
		}
	}
	return false
}

// takeBig makes the argument of size bytes that starts at next in buf, of
// which only part has arrived, one of bigs: what has arrived moves to its
// allocation, and Fill reads the rest there.
func (rd *Reader) takeBig(next, size int) {
	room := 0
	if k := len(rd.marks); k > 0 && rd.marks[k-2] >= 0 && rd.marks[k-1]-rd.marks[k-2] <= maxKeyRoom {
		room = rd.marks[k-1] - rd.marks[k-2]
	}
	v := make([]byte, size, size+room)
	got := copy(v, rd.buf[next:rd.end])
	rd.rest = v[got:]
	rd.end, rd.pos, rd.crlf = next, next, true
	rd.outside += size
	rd.marks = append(rd.marks, -1-len(rd.bigs), 0)
	rd.bigs = append(rd.bigs, v)
}

// parseArray parses "*<n>\r\n" followed by n "$<len>\r\n<bytes>\r\n".
func (rd *Reader) parseArray() ([][]byte, error) {
	if !rd.inArray {
		n, next, err := rd.header(rd.beg, '*')
		if err != nil {
			return nil, err
		}
		if n > rd.lim.MaxArgs {
			return nil, rd.tooLong("multibulk length")
		}
		if n <= 0 { // "*0" and "*-1" are empty commands
			rd.beg = next
			return nil, nil
		}
		rd.dropBigs()
		rd.inArray, rd.want, rd.pos, rd.marks = true, n, next, rd.marks[:0]
	}
	for {
		if len(rd.rest) > 0 {
			return nil, ErrIncomplete
		}
		if rd.crlf {
			if rd.end-rd.pos < 2 {
				return nil, ErrIncomplete
			}
			if rd.buf[rd.pos] != '\r' || rd.buf[rd.pos+1] != '\n' {
				return nil, &ProtocolError{"bulk string not followed by CRLF"}
			}
			rd.pos += 2
			rd.crlf = false
		}
		if len(rd.marks) == 2*rd.want {
			break
		}
		size, next, err := rd.header(rd.pos, '$')
		if err != nil {
			return nil, err
		}
		if size < 0 {
			return nil, &ProtocolError{"invalid bulk length"}
		}
		if size > rd.lim.MaxBulk {
			return nil, rd.tooLong("bulk length")
		}
		if next+size+2-rd.beg+rd.outside > rd.lim.MaxQuery {
			return nil, &ProtocolError{"too big request"}
		}
		if rd.end-next < size && size >= bigArg {
			rd.takeBig(next, size)
			continue
		}
		if rd.end-next < size+2 {
			rd.need = 0
			if size >= len(rd.buf)/2 {
				rd.need = next + size + 2 - rd.beg
			}
			return nil, ErrIncomplete
		}
		if rd.buf[next+size] != '\r' || rd.buf[next+size+1] != '\n' {
			return nil, &ProtocolError{"bulk string not followed by CRLF"}
		}
		rd.marks = append(rd.marks, next, next+size)
		rd.pos = next + size + 2
	}
	rd.args = rd.args[:0]
	for i := 0; i < len(rd.marks); i += 2 {
		if at := rd.marks[i]; at < 0 {
			rd.args = append(rd.args, rd.bigs[-1-at])
		} else {
			rd.args = append(rd.args, rd.buf[at:rd.marks[i+1]:rd.marks[i+1]])
		}
	}
	rd.inArray = false
	rd.beg = rd.pos
	return rd.args, nil
}

// tooLong is the error for a declared length over the limits: "invalid
// bulk length", or "unauthenticated bulk length" before AUTH.
func (rd *Reader) tooLong(what string) error {
	if rd.lim.Unauthenticated {
		return &ProtocolError{"unauthenticated " + what}
	}
	return &ProtocolError{"invalid " + what}
}

// header parses a "<kind><integer>\r\n" line at buf[at:] and returns the
// integer and the index just past the line.
func (rd *Reader) header(at int, kind byte) (int, int, error) {
	if at >= rd.end {
		return 0, 0, ErrIncomplete
	}
	if rd.buf[at] != kind {
		return 0, 0, &ProtocolError{"expected '" + string(kind) + "', got '" + string(rd.buf[at]) + "'"}
	}
	window := rd.buf[at:min(rd.end, at+maxHeader)]
	nl := bytes.IndexByte(window, '\n')
	if nl < 0 {
		if len(window) == maxHeader {
			return 0, 0, &ProtocolError{"header line too long"}
		}
		return 0, 0, ErrIncomplete
	}
	if nl < 2 || window[nl-1] != '\r' {
		return 0, 0, &ProtocolError{"header line not ended by CRLF"}
	}
	n, ok := parseInt(window[1 : nl-1])
	if !ok {
		if kind == '*' {
			return 0, 0, &ProtocolError{"invalid multibulk length"}
		}
		return 0, 0, &ProtocolError{"invalid bulk length"}
	}
	return n, at + nl + 1, nil
}

// parseInline parses a line of blank-separated words, as typed into
// telnet, with quotes as Redis takes them (see splitInline).
func (rd *Reader) parseInline() ([][]byte, error) {
	window := rd.buf[rd.beg:rd.end]
	nl := bytes.IndexByte(window, '\n')
	if nl < 0 {
		if len(window) > rd.lim.MaxInline {
			return nil, &ProtocolError{"too big inline request"}
		}
		return nil, ErrIncomplete
	}
	if nl > rd.lim.MaxInline {
		return nil, &ProtocolError{"too big inline request"}
	}
	line := bytes.TrimSuffix(window[:nl], []byte("\r"))
	rd.beg += nl + 1
	args, err := splitInline(line, rd.args[:0], rd.lim.MaxArgs)
	if err != nil {
		return nil, err
	}
	rd.args = args
	return args, nil
}

// parseInt parses a decimal integer of at most 18 digits, with an optional
// leading '-', without allocating.
func parseInt(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
