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
