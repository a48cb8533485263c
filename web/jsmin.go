package web

import (
	"bytes"
	"fmt"
)

// minifyJS strips what the browser does not need from a source written in
// the tracker's house style: comments on lines of their own ("//" lines, and
// "/* ... */" blocks that start a line and end one), indentation and blank
// lines. It keeps every line break, so automatic semicolon insertion sees
// the same code, and it never looks inside a line, so strings and regular
// expressions are safe. A comment that shares a line with code is an error
// rather than a silent leak of bytes (or, worse, of code into a comment).
func minifyJS(src []byte) ([]byte, error) {
	var out bytes.Buffer
	inBlock := false
	for i, line := range bytes.Split(src, []byte("\n")) {
		t := bytes.TrimSpace(line)
		switch {
		case inBlock:
			if bytes.Contains(t, []byte("*/")) {
				if !bytes.HasSuffix(t, []byte("*/")) {
					return nil, fmt.Errorf("cannot minify line %d: code after the end of a block comment", i+1)
				}
				inBlock = false
			}
		case bytes.HasPrefix(t, []byte("/*")):
			inBlock = !bytes.HasSuffix(t, []byte("*/")) || len(t) < 4
		case bytes.HasPrefix(t, []byte("//")), len(t) == 0:
		case bytes.Contains(t, []byte(" //")), bytes.Contains(t, []byte("/*")):
			return nil, fmt.Errorf("cannot minify line %d: put the comment on a line of its own", i+1)
		default:
			out.Write(t)
			out.WriteByte('\n')
		}
	}
	if inBlock {
		return nil, fmt.Errorf("cannot minify: unterminated block comment")
	}
	return out.Bytes(), nil
}

// compactJS goes one step past minifyJS for the banner, whose texts and
// styles leave little of its budget to whitespace: inside each line it drops
// every run of spaces except one between two word characters (or between
// "+ +" and "- -"). It understands '...' and "..." strings (there is no
// template literal in the house style) and refuses a regular expression
// literal, which it could not tell from a division: write those as strings
// or loops in a compacted file.
func compactJS(src []byte) ([]byte, error) {
	min, err := minifyJS(src)
	if err != nil || len(min) == 0 {
		return min, err
	}
	word := func(c byte) bool {
		return c == '_' || c == '$' || c >= 0x80 || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	var out bytes.Buffer
	for n, line := range bytes.Split(bytes.TrimSuffix(min, []byte("\n")), []byte("\n")) {
		var b []byte
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case c == '\'' || c == '"':
				j := i + 1
				for ; j < len(line) && line[j] != c; j++ {
					if line[j] == '\\' {
						j++
					}
				}
				if j >= len(line) {
					return nil, fmt.Errorf("cannot compact line %d: unterminated string", n+1)
				}
				b = append(b, line[i:j+1]...)
				i = j
			case c == '`':
				return nil, fmt.Errorf("cannot compact line %d: template literal", n+1)
			case c == '/':
				p := bytes.TrimRight(b, " \t")
				if len(p) == 0 || bytes.IndexByte([]byte("(,=:[!&|?{};+-*%<>~^"), p[len(p)-1]) >= 0 {
					return nil, fmt.Errorf("cannot compact line %d: regular expression literal", n+1)
				}
				b = append(b, c)
			case c == ' ' || c == '\t':
				j := i
				for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
					j++
				}
				if len(b) > 0 && j < len(line) {
					p, q := b[len(b)-1], line[j]
					if word(p) && word(q) || p == q && (p == '+' || p == '-') {
						b = append(b, ' ')
					}
				}
				i = j - 1
			default:
				b = append(b, c)
			}
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}
