package sessionlog

import (
	"bytes"
	"math"
	"time"
	"unicode/utf8"
)

// NDJSON parses one JSON object:
//
//	{"time": "2026-11-24T10:00:00Z", "ip": "203.0.113.7", "method": "GET",
//	 "url": "https://sez.im/a?b=1", "status": 200, "user_agent": "...",
//	 "referrer": "...", "accept_language": "ru", "consent_cookie": "v1...",
//	 "uid": "..."}
//
// time is RFC 3339 or a Unix time (seconds, fractions allowed; a number
// above 10^11 is taken as milliseconds), as a number or a string. url is
// absolute, or a path with the page's host in "host". "cookie" may carry the
// raw Cookie header instead of consent_cookie. time, ip and url are
// required; method defaults to GET and a missing status counts as a success.
// Unknown keys are skipped, null is the same as absent. The parser is
// hand-written to keep a line free of allocations: only flat string and
// number values are read, nested values of unknown keys are skipped.
func (p *Parser) NDJSON(line []byte, r *Record) error {
	r.Reset()
	p.buf = p.buf[:0]
	if len(line) > MaxLine {
		return ErrLineTooLong
	}
	s := jscan{b: line}
	s.ws()
	if !s.eat('{') {
		return ErrNotObject
	}
	var haveTime, haveIP, haveURL bool
	var cookie string
	s.ws()
	if s.eat('}') {
		return s.end(ErrMissingTime)
	}
	for {
		s.ws()
		key, ok := p.jstring(&s)
		if !ok {
			return ErrBadJSON
		}
		s.ws()
		if !s.eat(':') {
			return ErrBadJSON
		}
		s.ws()
		var err error
		switch key {
		case "time", "timestamp":
			var set bool
			if set, err = p.jtime(&s, &r.Time); set {
				haveTime = true
			}
		case "ip", "remote_addr":
			var v string
			if v, err = p.jstr(&s); err == nil && v != "" {
				if r.IP, err = parseIPString(v); err == nil {
					haveIP = true
				}
			}
		case "method":
			r.Method, err = p.jstr(&s)
		case "url":
			if r.Target, err = p.jstr(&s); r.Target != "" {
				haveURL = true
			}
		case "host":
			r.Host, err = p.jstr(&s)
		case "status":
			err = p.jstatus(&s, &r.Status)
		case "user_agent":
			r.UserAgent, err = p.jstr(&s)
		case "referrer", "referer":
			r.Referrer, err = p.jstr(&s)
		case "accept_language":
			r.AcceptLanguage, err = p.jstr(&s)
		case "consent_cookie":
			r.ConsentCookie, err = p.jstr(&s)
		case "visitor_cookie":
			r.VisitorCookie, err = p.jstr(&s)
		case "cookie":
			cookie, err = p.jstr(&s)
		case "uid", "user_id":
			r.UserID, err = p.jstr(&s)
		default:
			if !s.skipValue(0) {
				err = ErrBadJSON
			}
		}
		if err != nil {
			return err
		}
		s.ws()
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			break
		}
		return ErrBadJSON
	}
	s.ws()
	if s.i != len(s.b) {
		return ErrBadJSON
	}
	switch {
	case !haveTime:
		return ErrMissingTime
	case !haveIP:
		return ErrMissingIP
	case !haveURL:
		return ErrMissingURL
	}
	if r.Method == "" {
		r.Method = "GET"
	}
	if r.Referrer == "-" {
		r.Referrer = ""
	}
	if r.UserAgent == "-" {
		r.UserAgent = ""
	}
	if cookie != "" && r.ConsentCookie == "" && r.VisitorCookie == "" {
		r.setCookies(cookie)
	}
	return nil
}

// jscan walks a JSON text.
type jscan struct {
	b []byte
	i int
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jscan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jscan) end(err error) error {
	s.ws()
	if s.i != len(s.b) {
		return ErrBadJSON
	}
	return err
}

func (s *jscan) lit(word string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

// jstr reads a string value (or null, giving "").
func (p *Parser) jstr(s *jscan) (string, error) {
	if s.peek() == 'n' {
		if s.lit("null") {
			return "", nil
		}
		return "", ErrBadJSON
	}
	if s.peek() != '"' {
		if s.skipValue(0) {
			return "", ErrBadFieldType
		}
		return "", ErrBadJSON
	}
	v, ok := p.jstring(s)
	if !ok {
		return "", ErrBadJSON
	}
	if len(v) > maxField {
		return "", ErrFieldTooLong
	}
	return v, nil
}

// jstring reads a JSON string at s.i, unescaping into p.buf when needed.
func (p *Parser) jstring(s *jscan) (string, bool) {
	if !s.eat('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			v := str(s.b[start:s.i])
			s.i++
			return v, true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		s.i++
	}
	if s.i >= len(s.b) {
		return "", false
	}
	// Slow path: copy what was read, then unescape the rest.
	bstart := len(p.buf)
	p.buf = append(p.buf, s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return str(p.buf[bstart:]), true
		case c < 0x20:
			return "", false
		case c != '\\':
			p.buf = append(p.buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", false
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			p.buf = append(p.buf, e)
		case 'b':
			p.buf = append(p.buf, '\b')
		case 'f':
			p.buf = append(p.buf, '\f')
		case 'n':
			p.buf = append(p.buf, '\n')
		case 'r':
			p.buf = append(p.buf, '\r')
		case 't':
			p.buf = append(p.buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", false
			}
			if 0xD800 <= r && r < 0xDC00 {
				// A high surrogate; a low one should follow.
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					r2, ok := s.hex4()
					if !ok {
						return "", false
					}
					if 0xDC00 <= r2 && r2 < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			p.buf = utf8.AppendRune(p.buf, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (s *jscan) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		v, ok := unhex(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	s.i += 4
	return r, true
}

// jnumber reads a JSON number as float64 (enough for Unix times and
// statuses) without allocating.
func (s *jscan) jnumber() (float64, bool) {
	start := s.i
	neg := s.eat('-')
	var intPart float64
	nd := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		intPart = intPart*10 + float64(s.b[s.i]-'0')
		s.i++
		nd++
	}
	if nd == 0 {
		s.i = start
		return 0, false
	}
	v := intPart
	if s.eat('.') {
		scale, fd := 0.1, 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			v += float64(s.b[s.i]-'0') * scale
			scale /= 10
			s.i++
			fd++
		}
		if fd == 0 {
			return 0, false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		eneg := false
		if c := s.peek(); c == '+' || c == '-' {
			eneg = c == '-'
			s.i++
		}
		e, ed := 0, 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			if e < 1000 {
				e = e*10 + int(s.b[s.i]-'0')
			}
			s.i++
			ed++
		}
		if ed == 0 {
			return 0, false
		}
		if eneg {
			e = -e
		}
		v *= math.Pow10(e)
	}
	if neg {
		v = -v
	}
	return v, true
}

// jtime reads the time field: a number, a string of digits, or RFC 3339.
func (p *Parser) jtime(s *jscan, t *time.Time) (bool, error) {
	switch c := s.peek(); {
	case c == 'n':
		if s.lit("null") {
			return false, nil
		}
		return false, ErrBadJSON
	case c == '-' || ('0' <= c && c <= '9'):
		v, ok := s.jnumber()
		if !ok {
			return false, ErrBadJSON
		}
		tt, err := unixTime(v)
		*t = tt
		return err == nil, err
	case c == '"':
		v, ok := p.jstring(s)
		if !ok {
			return false, ErrBadJSON
		}
		tt, err := parseTimeString(v)
		*t = tt
		return err == nil, err
	}
	if s.skipValue(0) {
		return false, ErrBadFieldType
	}
	return false, ErrBadJSON
}

// unixTime converts seconds (or milliseconds above 10^11) since 1970.
func unixTime(v float64) (time.Time, error) {
	if v > 1e11 {
		v /= 1000
	}
	if !(v >= 0 && v < 253402300800) { // year 10000; also catches NaN
		return time.Time{}, ErrBadTime
	}
	sec := math.Floor(v)
	// Microseconds: a float64 holds no more of a current Unix time.
	return time.Unix(int64(sec), int64(math.Round((v-sec)*1e6))*1e3).UTC(), nil
}

// parseTimeString reads a Unix time in a string, RFC 3339
// ("2026-11-24T10:00:00.123+05:00", "Z", a space instead of "T"), or the
// access-log form "24/Nov/2026:10:00:00 +0000".
func parseTimeString(v string) (time.Time, error) {
	b := bs(v)
	if len(b) > 0 && '0' <= b[0] && b[0] <= '9' && bytes.IndexByte(b, '-') < 0 && bytes.IndexByte(b, '/') < 0 {
		s := jscan{b: b}
		f, ok := s.jnumber()
		if !ok || s.i != len(b) {
			return time.Time{}, ErrBadTime
		}
		return unixTime(f)
	}
	if len(b) >= 3 && b[2] == '/' {
		return parseCLFTime(b)
	}
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, ErrBadTime
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, ErrBadTime
	}
	rest := b[19:]
	nsec := 0
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		rest = rest[1:]
		n, scale := 0, 100_000_000
		i := 0
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			if scale > 0 {
				n += int(rest[i]-'0') * scale
				scale /= 10
			}
			i++
		}
		if i == 0 {
			return time.Time{}, ErrBadTime
		}
		nsec, rest = n, rest[i:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	default:
		var err error
		if offset, err = parseOffset(rest, true); err != nil {
			return time.Time{}, err
		}
	}
	return makeTime(year, month, day, hour, minute, sec, nsec, offset)
}

// jstatus reads the status as a number or a string of digits.
func (p *Parser) jstatus(s *jscan, out *int) error {
	c := s.peek()
	var v float64
	switch {
	case c == 'n':
		if s.lit("null") {
			return nil
		}
		return ErrBadJSON
	case '0' <= c && c <= '9':
		f, ok := s.jnumber()
		if !ok {
			return ErrBadJSON
		}
		v = f
	case c == '"':
		v3, ok := p.jstring(s)
		if !ok {
			return ErrBadJSON
		}
		n, ok := digits(bs(v3))
		if !ok || len(v3) > 3 {
			return ErrBadStatus
		}
		v = float64(n)
	default:
		if s.skipValue(0) {
			return ErrBadFieldType
		}
		return ErrBadJSON
	}
	if v != math.Trunc(v) || v < 100 || v > 999 {
		return ErrBadStatus
	}
	*out = int(v)
	return nil
}

// skipValue skips any JSON value; depth bounds nesting.
func (s *jscan) skipValue(depth int) bool {
	if depth > 32 {
		return false
	}
	switch c := s.peek(); {
	case c == '"':
		s.i++
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '\\':
				s.i += 2
				continue
			case '"':
				s.i++
				return true
			}
			if s.b[s.i] < 0x20 {
				return false
			}
			s.i++
		}
		return false
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.i++
		s.ws()
		if s.eat(closer) {
			return true
		}
		for {
			s.ws()
			if c == '{' {
				if s.peek() != '"' || !s.skipValue(depth+1) {
					return false
				}
				s.ws()
				if !s.eat(':') {
					return false
				}
				s.ws()
			}
			if !s.skipValue(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			return s.eat(closer)
		}
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		_, ok := s.jnumber()
		return ok
	}
	return false
}
