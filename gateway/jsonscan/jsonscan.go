// Package jsonscan holds the few byte-level steps the hot path's JSON
// readers and writers share (the gateway's request and usage scans, the
// token estimate of a raw messages array, the error bodies of the gateway
// and its mock): they find values in a body without decoding it, and hand
// anything unusual to encoding/json.
package jsonscan

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// EndOfString returns the index of the closing quote of the string whose
// body starts at i, or len(b).
func EndOfString(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(b)
}

// SkipValue returns the end of the valid JSON value starting at i.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return min(EndOfString(b, i+1)+1, len(b))
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = EndOfString(b, i+1)
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// Members calls f with each member of the JSON object in b, in order: its
// key as written (quotes and escapes included) and where its value starts
// and ends in b, until f returns false. b must be valid JSON (json.Valid
// accepted it). It reports whether b holds an object.
func Members(b []byte, f func(key []byte, val, end int) bool) bool {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = SkipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		kEnd := min(EndOfString(b, i+1), len(b)-1)
		val := SkipSpace(b, SkipSpace(b, kEnd+1)+1) // past the colon
		end := SkipValue(b, val)
		if !f(b[i:kEnd+1], val, end) {
			break
		}
		i = SkipSpace(b, end)
		if i >= len(b) || b[i] != ',' {
			break
		}
		i = SkipSpace(b, i+1)
	}
	return true
}

// AppendString appends s to b as a JSON string, escaping quotes,
// backslashes and control characters; other bytes go as they are (a name
// echoed from a request is escaped, never trusted).
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
