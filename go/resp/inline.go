package resp

// errUnbalanced is Redis's reply to an inline command with a quote that is
// not closed, or closed and then followed by more than a space.
var errUnbalanced = &ProtocolError{"unbalanced quotes in request"}

// splitInline splits an inline command line (without its line ending) into
// arguments, following the rules of Redis's inline protocol:
//
//   - arguments are separated by blanks;
//   - "double quotes" take the escapes \n \r \t \b \a, \xHH (two hex
//     digits) and \ before any other byte, which stands for that byte
//     (so \" and \\);
//   - 'single quotes' take only \' ; any other byte stands for itself;
//   - a quote may open mid-word (a"b c" is one argument, ab c), but a
//     closing quote must be followed by a blank or the end of the line;
//   - a quote left open is an error, as is more than maxArgs arguments.
//
// The arguments are unescaped in place: each is written over the bytes it
// was read from, which an argument never outgrows, so line's bytes change
// and the arguments appended to args point into line.
func splitInline(line []byte, args [][]byte, maxArgs int) ([][]byte, error) {
	r, w := 0, 0 // read and write positions in line; w <= r
	for {
		for r < len(line) && isBlank(line[r]) {
			r++
		}
		if r == len(line) {
			return args, nil
		}
		if len(args) == maxArgs {
			return nil, &ProtocolError{"invalid multibulk length"}
		}
		start := w
		var quote byte // the open quote, or 0
	word:
		for r < len(line) {
			ch := line[r]
			r++
			switch {
			case quote == 0 && endsWord(ch):
				break word
			case quote == 0 && (ch == '"' || ch == '\''):
				quote = ch
				continue
			case quote != 0 && ch == quote: // closing
				if r < len(line) && !isBlank(line[r]) {
					return nil, errUnbalanced
				}
				quote = 0
				break word
			case quote == '"' && ch == '\\' && r < len(line):
				ch, r = unescape(line, r)
			case quote == '\'' && ch == '\\' && r < len(line) && line[r] == '\'':
				ch, r = '\'', r+1
			}
			line[w] = ch
			w++
		}
		if quote != 0 {
			return nil, errUnbalanced
		}
		args = append(args, line[start:w:w])
	}
}

// unescape decodes the escape whose backslash precedes line[r] in double
// quotes, and returns the byte it stands for and where reading resumes.
func unescape(line []byte, r int) (byte, int) {
	if line[r] == 'x' && r+2 < len(line) {
		hi, ok1 := fromHex(line[r+1])
		lo, ok2 := fromHex(line[r+2])
		if ok1 && ok2 {
			return hi<<4 | lo, r + 3
		}
	}
	switch ch := line[r]; ch {
	case 'n':
		return '\n', r + 1
	case 'r':
		return '\r', r + 1
	case 't':
		return '\t', r + 1
	case 'b':
		return '\b', r + 1
	case 'a':
		return '\a', r + 1
	default:
		return ch, r + 1
	}
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c|0x20 && c|0x20 <= 'f':
		return c | 0x20 - 'a' + 10, true
	}
	return 0, false
}

// isBlank is C's isspace: what may separate arguments and follow a closing
// quote.
func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// endsWord reports whether c ends an unquoted argument. As in Redis, \v and
// \f are blanks between arguments but part of an unquoted one.
func endsWord(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
