package sessionlog

import (
	"bytes"
	"time"
)

// Combined parses an access-log line in the "combined" format that nginx
// and Apache write by default:
//
//	203.0.113.7 - - [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "https://ref/" "Mozilla/5.0 ..."
//
// optionally followed by the raw Cookie header as one more quoted field
// (log_format ... "$http_cookie"), from which sezim_consent and sezim_vid
// are read. Anything after that is ignored, so formats that append timing
// fields still parse. Quoted fields may carry the escapes nginx writes
// (\xHH, and \" with escape=default: \x22) and Apache writes (\", \\, \n,
// \t); "-" stands for a missing referrer, user agent or cookie.
func (p *Parser) Combined(line []byte, r *Record) error {
	r.Reset()
	p.buf = p.buf[:0]
	if len(line) > MaxLine {
		return ErrLineTooLong
	}
	// Remote address, up to the first space.
	i := bytes.IndexByte(line, ' ')
	if i <= 0 {
		return ErrTruncated
	}
	ip, err := parseIP(line[:i])
	if err != nil {
		return err
	}
	r.IP = ip
	rest := line[i+1:]
	// Skip ident and user (anything up to the '[' of the time).
	i = bytes.IndexByte(rest, '[')
	if i < 0 {
		return ErrTruncated
	}
	rest = rest[i+1:]
	i = bytes.IndexByte(rest, ']')
	if i < 0 {
		return ErrTruncated
	}
	if r.Time, err = parseCLFTime(rest[:i]); err != nil {
		return err
	}
	rest = skipSpaces(rest[i+1:])

	req, rest, err := p.quoted(rest)
	if err != nil {
		return err
	}
	if err := r.setRequest(req); err != nil {
		return err
	}
	// Status and size.
	rest = skipSpaces(rest)
	tok, rest := token(rest)
	if r.Status, err = parseStatus(tok); err != nil {
		return err
	}
	rest = skipSpaces(rest)
	if _, rest = token(rest); len(rest) == 0 {
		// The "common" format ends here: no referrer, no user agent.
		return nil
	}
	rest = skipSpaces(rest)
	var ref, ua, cookie string
	if ref, rest, err = p.quoted(rest); err != nil {
		return err
	}
	rest = skipSpaces(rest)
	if ua, rest, err = p.quoted(rest); err != nil {
		return err
	}
	rest = skipSpaces(rest)
	if len(rest) > 0 && rest[0] == '"' {
		if cookie, _, err = p.quoted(rest); err != nil {
			return ErrBadCookieFld
		}
	}
	if ref != "-" {
		r.Referrer = ref
	}
	if ua != "-" {
		r.UserAgent = ua
	}
	r.setCookies(cookie)
	return nil
}

// setRequest splits "METHOD target PROTOCOL". nginx logs "-" (or the raw
// bytes of a non-HTTP request, escaped) when there was no request line; that
// gives an empty or odd method, which the filters skip.
func (r *Record) setRequest(req string) error {
	if req == "-" || req == "" {
		return nil
	}
	sp := indexByte(req, ' ')
	if sp < 0 {
		r.Method = req
		return nil
	}
	r.Method = req[:sp]
	target := req[sp+1:]
	// The protocol is the last word, when it looks like one.
	if j := lastIndexByte(target, ' '); j >= 0 && hasPrefix(target[j+1:], "HTTP/") {
		target = target[:j]
	}
	if len(target) > maxField {
		return ErrFieldTooLong
	}
	r.Target = target
	return nil
}

func lastIndexByte(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func skipSpaces(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// token returns the bytes up to the next space.
func token(b []byte) (tok, rest []byte) {
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i:]
}

func parseStatus(b []byte) (int, error) {
	if len(b) != 3 {
		return 0, ErrBadStatus
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, ErrBadStatus
		}
		n = n*10 + int(c-'0')
	}
	if n < 100 {
		return 0, ErrBadStatus
	}
	return n, nil
}

// quoted reads a double-quoted field at the start of b and returns its
// unescaped value. Without escapes the value points into b.
func (p *Parser) quoted(b []byte) (string, []byte, error) {
	if len(b) == 0 {
		return "", nil, ErrTruncated
	}
	if b[0] != '"' {
		return "", nil, ErrBadQuoted
	}
	b = b[1:]
	// Fast path: no backslash before the closing quote.
	end := bytes.IndexByte(b, '"')
	if end < 0 {
		return "", nil, ErrBadQuoted
	}
	if bytes.IndexByte(b[:end], '\\') < 0 {
		if end > maxField {
			return "", nil, ErrFieldTooLong
		}
		return str(b[:end]), b[end+1:], nil
	}
	start := len(p.buf)
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case '"':
			if len(p.buf)-start > maxField {
				return "", nil, ErrFieldTooLong
			}
			return str(p.buf[start:]), b[i+1:], nil
		case '\\':
			if i+1 >= len(b) {
				return "", nil, ErrBadQuoted
			}
			i++
			switch e := b[i]; e {
			case 'x', 'X':
				if i+2 < len(b) {
					if v, ok := unhex2(b[i+1], b[i+2]); ok {
						p.buf = append(p.buf, v)
						i += 2
						continue
					}
				}
				p.buf = append(p.buf, '\\', e)
			case 'n':
				p.buf = append(p.buf, '\n')
			case 't':
				p.buf = append(p.buf, '\t')
			case 'r':
				p.buf = append(p.buf, '\r')
			case '"', '\\':
				p.buf = append(p.buf, e)
			default:
				p.buf = append(p.buf, '\\', e)
			}
		default:
			p.buf = append(p.buf, c)
		}
	}
	return "", nil, ErrBadQuoted
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func unhex2(a, b byte) (byte, bool) {
	x, ok1 := unhex(a)
	y, ok2 := unhex(b)
	return x<<4 | y, ok1 && ok2
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseCLFTime reads "10/Oct/2000:13:55:36 -0700" (the offset may be left
// out, meaning UTC).
func parseCLFTime(b []byte) (time.Time, error) {
	if len(b) != 20 && len(b) != 26 {
		return time.Time{}, ErrBadTime
	}
	if b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' {
		return time.Time{}, ErrBadTime
	}
	day, ok1 := digits(b[0:2])
	year, ok2 := digits(b[7:11])
	hour, ok3 := digits(b[12:14])
	minute, ok4 := digits(b[15:17])
	sec, ok5 := digits(b[18:20])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return time.Time{}, ErrBadTime
	}
	month := 0
	for i, m := range months {
		if string(b[3:6]) == m {
			month = i + 1
			break
		}
	}
	offset := 0
	if len(b) == 26 {
		if b[20] != ' ' {
			return time.Time{}, ErrBadTime
		}
		var err error
		if offset, err = parseOffset(b[21:], false); err != nil {
			return time.Time{}, err
		}
	}
	return makeTime(year, month, day, hour, minute, sec, 0, offset)
}

// parseOffset reads "+0500" (colon false) or "+05:00" (colon true), in
// seconds east of UTC.
func parseOffset(b []byte, colon bool) (int, error) {
	want := 5
	if colon {
		want = 6
	}
	if len(b) != want || (b[0] != '+' && b[0] != '-') || (colon && b[3] != ':') {
		return 0, ErrBadTime
	}
	h, ok1 := digits(b[1:3])
	m, ok2 := digits(b[len(b)-2:])
	if !ok1 || !ok2 || h > 14 || m > 59 {
		return 0, ErrBadTime
	}
	off := h*3600 + m*60
	if b[0] == '-' {
		off = -off
	}
	return off, nil
}

func makeTime(year, month, day, hour, minute, sec, nsec, offset int) (time.Time, error) {
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 || year < 1970 || year > 9999 {
		return time.Time{}, ErrBadTime
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 31 February
		return time.Time{}, ErrBadTime
	}
	return t.Add(-time.Duration(offset) * time.Second), nil
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}
