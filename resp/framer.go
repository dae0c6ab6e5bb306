package resp

import "strconv"

// ProtocolError is malformed or oversized input: the client gets
// "-ERR Protocol error: ..." and the connection is closed, as Redis does.
type ProtocolError struct{ msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.msg }

func protoErr(msg string) *ProtocolError { return &ProtocolError{msg: msg} }

// limits bound what one command may hold before it is buffered.
type limits struct {
	maxArgs   int // elements of one array
	maxBulk   int // bytes of one argument
	maxQuery  int // bytes of one whole command, framing included
	maxInline int // bytes of one inline (telnet) command line
}

// framer states.
const (
	fStart   = iota // before the first byte of a command
	fInline         // in an inline command line, until '\n'
	fCount          // digits of "*<count>"
	fCountLF        // after the count's '\r'
	fDollar         // expecting the '$' of the next argument
	fLen            // digits of "$<length>"
	fLenLF          // after the length's '\r'
	fData           // in an argument's bytes
	fDataCR         // expecting the '\r' after an argument
	fDataLF         // expecting the '\n' after it
)

// framer follows the RESP request framing byte by byte without storing
// anything, so that a connection knows where each command ends and refuses
// one that passes the limits before buffering it. redcon's parser (used on
// complete commands only) has no limits of its own: an array header or a
// bulk length is taken at its word there.
type framer struct {
	lim    limits
	state  int
	num    int // the count or length being read
	digits int
	args   int // arguments left in the current array
	left   int // data bytes left in the current argument
	size   int // bytes of the current command so far
}

// advance consumes p up to and including the end of one command (end
// true) or all of p (end false). n is the number of bytes consumed; on
// error the command is to be refused and the connection closed.
func (f *framer) advance(p []byte) (n int, end bool, err error) {
	for n < len(p) {
		if f.state == fData {
			// Skip argument bytes in one step.
			k := min(f.left, len(p)-n)
			n += k
			f.left -= k
			f.size += k
			if f.left == 0 {
				f.state = fDataCR
			}
			continue
		}
		c := p[n]
		n++
		f.size++
		if f.size > f.lim.maxQuery && f.state != fInline && f.state != fStart {
			return n, false, protoErr("command too large: the limit is " + strconv.Itoa(f.lim.maxQuery) + " bytes")
		}
		switch f.state {
		case fStart:
			f.size = 1
			switch c {
			case '*':
				f.state, f.num, f.digits = fCount, 0, 0
			case '$':
				// redcon would read this as Tile38's framing, which
				// Redis does not speak.
				return n, false, protoErr("expected '*', got '$'")
			case '\n':
				// An empty inline line: no command.
				f.size = 0
				return n, true, nil
			default:
				f.state = fInline
			}
		case fInline:
			if c == '\n' {
				f.state, f.size = fStart, 0
				return n, true, nil
			}
			if f.size > f.lim.maxInline {
				return n, false, protoErr("too big inline request")
			}
		case fCount, fLen:
			switch {
			case c >= '0' && c <= '9' && f.digits < 10:
				f.num = f.num*10 + int(c-'0')
				f.digits++
			case c == '\r' && f.digits > 0:
				f.state++ // fCountLF or fLenLF
			case f.state == fCount:
				return n, false, protoErr("invalid multibulk length")
			default:
				return n, false, protoErr("invalid bulk length")
			}
		case fCountLF:
			if c != '\n' || f.num < 1 || f.num > f.lim.maxArgs {
				if c == '\n' && f.num > f.lim.maxArgs {
					return n, false, protoErr("invalid multibulk length: at most " + strconv.Itoa(f.lim.maxArgs) + " arguments")
				}
				return n, false, protoErr("invalid multibulk length")
			}
			f.args, f.state = f.num, fDollar
		case fDollar:
			if c != '$' {
				return n, false, protoErr("expected '$', got '" + printable(c) + "'")
			}
			f.state, f.num, f.digits = fLen, 0, 0
		case fLenLF:
			switch {
			case c != '\n':
				return n, false, protoErr("invalid bulk length")
			case f.num > f.lim.maxBulk:
				return n, false, protoErr("invalid bulk length: " + strconv.Itoa(f.num) + " bytes, the limit is " + strconv.Itoa(f.lim.maxBulk) + " (value too large)")
			case f.num == 0:
				f.state = fDataCR
			default:
				f.state, f.left = fData, f.num
			}
		case fDataCR:
			if c != '\r' {
				return n, false, protoErr("invalid bulk format: an argument must end with CRLF")
			}
			f.state = fDataLF
		case fDataLF:
			if c != '\n' {
				return n, false, protoErr("invalid bulk format: an argument must end with CRLF")
			}
			f.args--
			if f.args == 0 {
				f.state, f.size = fStart, 0
				return n, true, nil
			}
			f.state = fDollar
		}
	}
	return n, false, nil
}

// printable shows a byte in an error message.
func printable(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return "\\x" + strconv.FormatUint(uint64(c), 16)
}
