package gpt2

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// GPT-2 splits text into pieces with the Python `regex` pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Go's regexp has no lookahead, so tokNextPiece matches it by hand. Every rune falls in
// exactly one of four classes (letter, number, space, other), so some alternative always
// matches at the current position and pieces tile the text.
//
// The classes follow the `regex` module, not Go or Python's re:
//   - \s is the Unicode White_Space property (U+0009..U+000D, U+0020, U+0085, U+00A0,
//     U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000), which is exactly
//     unicode.IsSpace. Python's str.isspace and re also count U+001C..U+001F; `regex`
//     does not, so they are "other" here too.
//   - \p{L} and \p{N} are unicode.IsLetter and unicode.IsNumber plus the letters and
//     numbers assigned after Go's Unicode 15.0 tables (tokLettersAfter15 and
//     tokNumbersAfter15, taken from `regex`, which follows Unicode 17).
//   - Invalid UTF-8 bytes (impossible in a Python str) are "other", one byte each.
type tokClass uint8

const (
	tokOther tokClass = iota
	tokLetter
	tokNumber
	tokSpace
)

var tokASCIIClass = func() (c [utf8.RuneSelf]tokClass) {
	for r := range c {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			c[r] = tokLetter
		case '0' <= r && r <= '9':
			c[r] = tokNumber
		case r == ' ', '\t' <= r && r <= '\r':
			c[r] = tokSpace
		}
	}
	return c
}()

// tokRuneAt decodes the rune at s[i] and its class.
func tokRuneAt(s string, i int) (tokClass, int) {
	if b := s[i]; b < utf8.RuneSelf {
		return tokASCIIClass[b], 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && w == 1:
		return tokOther, 1
	case unicode.IsLetter(r) || unicode.Is(tokLettersAfter15, r):
		return tokLetter, w
	case unicode.IsNumber(r) || unicode.Is(tokNumbersAfter15, r):
		return tokNumber, w
	case unicode.IsSpace(r):
		return tokSpace, w
	}
	return tokOther, w
}

// tokRunEnd returns the end of the run of class c that starts at s[i].
func tokRunEnd(s string, i int, c tokClass) int {
	for i < len(s) {
		ci, w := tokRuneAt(s, i)
		if ci != c {
			break
		}
		i += w
	}
	return i
}

// tokNextPiece returns the end of the GPT-2 piece that starts at s[i], i < len(s).
func tokNextPiece(s string, i int) int {
	if s[i] == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	c, w := tokRuneAt(s, i)
	if s[i] == ' ' && i+1 < len(s) {
		// " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+": the space joins a following
		// non-space run.
		if c1, w1 := tokRuneAt(s, i+1); c1 != tokSpace {
			return tokRunEnd(s, i+1+w1, c1)
		}
	}
	if c != tokSpace {
		return tokRunEnd(s, i+w, c)
	}
	// "\s+(?!\S)" backtracks one rune when the run is followed by a non-space, leaving
	// that rune (often the space of " word") to the next piece; a single space rune
	// followed by a non-space falls through to "\s+".
	end := tokRunEnd(s, i+w, tokSpace)
	if end == len(s) || end == i+w {
		return end
	}
	_, lastW := utf8.DecodeLastRuneInString(s[i:end])
	return end - lastW
}

// tokSegments calls fn(start, end, -1) for each stretch of text between special tokens and
// fn(start, end, k) for each occurrence of specials[k]. Matches are leftmost, then longest
// (specials are sorted longest first), as Hugging Face's added-token matcher does.
func tokSegments(text string, specials []string, fn func(start, end, special int)) {
	next := make([]int, len(specials)) // next match of specials[j] at or after pos; len(text): none
	for j := range next {
		next[j] = -1
	}
	for pos := 0; pos < len(text); {
		at, k := len(text), -1
		for j, sp := range specials {
			if next[j] < pos {
				next[j] = len(text)
				if i := strings.Index(text[pos:], sp); i >= 0 {
					next[j] = pos + i
				}
			}
			if next[j] < at {
				at, k = next[j], j
			}
		}
		if at > pos {
			fn(pos, at, -1)
		}
		if k < 0 {
			return
		}
		fn(at, at+len(specials[k]), k)
		pos = at + len(specials[k])
	}
}

// Letters and numbers that Python's `regex` (Unicode 17) classifies as \p{L} and \p{N}
// but Go's Unicode 15.0 tables leave unassigned.
var tokLettersAfter15 = &unicode.RangeTable{
	R16: []unicode.Range16{
		{0x088f, 0x088f, 1}, {0x0c5c, 0x0c5c, 1}, {0x0cdc, 0x0cdc, 1}, {0x1c89, 0x1c8a, 1},
		{0xa7cb, 0xa7cf, 1}, {0xa7d2, 0xa7d2, 1}, {0xa7d4, 0xa7d4, 1}, {0xa7da, 0xa7dc, 1},
		{0xa7f1, 0xa7f1, 1},
	},
	R32: []unicode.Range32{
		{0x105c0, 0x105f3, 1}, {0x10940, 0x10959, 1}, {0x10d4a, 0x10d65, 1}, {0x10d6f, 0x10d85, 1},
		{0x10ec2, 0x10ec7, 1}, {0x11380, 0x11389, 1}, {0x1138b, 0x1138b, 1}, {0x1138e, 0x1138e, 1},
		{0x11390, 0x113b5, 1}, {0x113b7, 0x113b7, 1}, {0x113d1, 0x113d1, 1}, {0x113d3, 0x113d3, 1},
		{0x11bc0, 0x11be0, 1}, {0x11db0, 0x11ddb, 1}, {0x13460, 0x143fa, 1}, {0x16100, 0x1611d, 1},
		{0x16d40, 0x16d6c, 1}, {0x16ea0, 0x16eb8, 1}, {0x16ebb, 0x16ed3, 1}, {0x16ff2, 0x16ff3, 1},
		{0x187f8, 0x187ff, 1}, {0x18cff, 0x18cff, 1}, {0x18d09, 0x18d1e, 1}, {0x18d80, 0x18df2, 1},
		{0x1e5d0, 0x1e5ed, 1}, {0x1e5f0, 0x1e5f0, 1}, {0x1e6c0, 0x1e6de, 1}, {0x1e6e0, 0x1e6e2, 1},
		{0x1e6e4, 0x1e6e5, 1}, {0x1e6e7, 0x1e6ed, 1}, {0x1e6f0, 0x1e6f4, 1}, {0x1e6fe, 0x1e6ff, 1},
		{0x2b73a, 0x2b73f, 1}, {0x2cea2, 0x2cead, 1}, {0x2ebf0, 0x2ee5d, 1}, {0x323b0, 0x33479, 1},
	},
}

var tokNumbersAfter15 = &unicode.RangeTable{
	R32: []unicode.Range32{
		{0x10d40, 0x10d49, 1}, {0x116d0, 0x116e3, 1}, {0x11bf0, 0x11bf9, 1}, {0x11de0, 0x11de9, 1},
		{0x16130, 0x16139, 1}, {0x16d70, 0x16d79, 1}, {0x16ff4, 0x16ff6, 1}, {0x1ccf0, 0x1ccf9, 1},
		{0x1e5f1, 0x1e5fa, 1},
	},
}
