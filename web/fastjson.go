package web

import (
	"unicode/utf8"
)

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it (HTML-safe: <, > and & escaped, as are U+2028 and U+2029, and
// invalid UTF-8 replaced by U+FFFD), for responses written on every
// request without reflection.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// writeResultJSON is writeResult as encoding/json would write it.
func writeResultJSON(key, version string) []byte {
	b := make([]byte, 0, len(key)+len(version)+32)
	b = append(b, `{"key":`...)
	b = appendJSONString(b, key)
	b = append(b, `,"version":`...)
	b = appendJSONString(b, version)
	return append(b, '}')
}
