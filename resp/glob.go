package resp

import "slices"

// globMatch reports whether s matches a Redis glob pattern: * any run, ?
// any byte, [abc] [^abc] [a-z] a class, \x the byte x. It backtracks only
// to the last star, so it costs at most len(p)*len(s) steps, whatever the
// pattern.
func globMatch(p, s []byte) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for px < len(p) || sx < len(s) {
		if px < len(p) {
			switch p[px] {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			case '[':
				if sx < len(s) {
					if ok, n := matchClass(p[px:], s[sx]); ok {
						px += n
						sx++
						continue
					}
				}
			case '\\':
				lit, n := byte('\\'), 1
				if px+1 < len(p) {
					lit, n = p[px+1], 2
				}
				if sx < len(s) && s[sx] == lit {
					px += n
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == p[px] {
					px++
					sx++
					continue
				}
			}
		}
		if starP >= 0 && starS < len(s) {
			starS++
			px, sx = starP+1, starS
			continue
		}
		return false
	}
	return true
}

// matchClass matches c against the class that p opens ("[...]") and
// returns whether it matched and the class's length in p. A class left
// open runs to the end of the pattern, as in Redis.
func matchClass(p []byte, c byte) (bool, int) {
	i := 1
	not := i < len(p) && p[i] == '^'
	if not {
		i++
	}
	match := false
	for ; i < len(p) && p[i] != ']'; i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			if p[i] == c {
				match = true
			}
		case i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']':
			lo, hi := p[i], p[i+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if c >= lo && c <= hi {
				match = true
			}
			i += 2
		case p[i] == c:
			match = true
		}
	}
	if i < len(p) {
		i++ // the ']'
	}
	return match != not, i
}

// globPrefix returns the literal start of a pattern: every key it matches
// begins with it, so listings can start there.
func globPrefix(p []byte) string {
	var out []byte
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[':
			return string(out)
		case '\\':
			if i+1 == len(p) {
				return string(out)
			}
			i++
		}
		out = append(out, p[i])
	}
	return string(out)
}

func sortStrings(s []string) { slices.Sort(s) }
