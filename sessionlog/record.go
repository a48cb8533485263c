// Package sessionlog reads server session logs (policy clause 9.3: the
// site's own log of IP address, browser, language, visit time and referrer)
// and feeds them, line by line, through the same pipeline as the tracking
// pixel. It owns the two line formats (NDJSON records and the nginx/Apache
// "combined" access-log line), the per-line filters (assets, statuses,
// methods, retention), and the ledger that makes a resent batch count once.
//
// The parsers are allocation-light: a Record's strings point into the line
// (or into the Parser's scratch when a field had escapes), so a Record is
// valid only until the next Parse call on the same Parser and while the line
// is not modified. A Record holds a full IP address and a raw user agent: it
// lives only in memory, like event.Hit, and no error of this package ever
// contains a value from a line.
package sessionlog

import (
	"errors"
	"net/netip"
	"time"
	"unsafe"
)

// Format is a line format.
type Format uint8

const (
	// FormatCombined is the nginx/Apache "combined" access-log line,
	// optionally followed by the raw Cookie header as a quoted field.
	FormatCombined Format = iota + 1
	// FormatNDJSON is one JSON object per line.
	FormatNDJSON
)

// String names the format.
func (f Format) String() string {
	switch f {
	case FormatCombined:
		return "combined"
	case FormatNDJSON:
		return "ndjson"
	}
	return "unknown"
}

// MaxLine is the longest line accepted, in bytes; a longer one is rejected.
const MaxLine = 32 << 10

// Record is one parsed log line. Strings point into the parsed line or the
// Parser's scratch: copy what you keep past the next Parse.
type Record struct {
	Time time.Time // UTC
	IP   netip.Addr
	// Method is the request method ("GET"); "" when the log has none.
	Method string
	// Target is the request target: a path with its query ("/a?b=1") or
	// an absolute URL.
	Target string
	// Host is the page's host when the line names one (NDJSON "host").
	Host string
	// Status is the response status; 0 when the line does not record one.
	Status         int
	UserAgent      string
	Referrer       string
	AcceptLanguage string
	// ConsentCookie and VisitorCookie are the raw sezim_consent and
	// sezim_vid cookie values, when the log captured them.
	ConsentCookie string
	VisitorCookie string
	// UserID is the site's account id for a logged-in visitor (NDJSON "uid").
	UserID string
}

// Reset clears the record.
func (r *Record) Reset() { *r = Record{} }

// Parse errors. Each names what is wrong in a few fixed words, never a value
// from the line: they are shown in responses and used as metric labels.
var (
	ErrLineTooLong   = errors.New("line too long")
	ErrBadIP         = errors.New("bad ip address")
	ErrBadTime       = errors.New("bad time")
	ErrMissingTime   = errors.New("missing time")
	ErrMissingIP     = errors.New("missing ip")
	ErrMissingURL    = errors.New("missing url")
	ErrBadStatus     = errors.New("bad status")
	ErrBadQuoted     = errors.New("unterminated quoted field")
	ErrTruncated     = errors.New("line ends early")
	ErrBadJSON       = errors.New("bad json")
	ErrNotObject     = errors.New("not a json object")
	ErrBadFieldType  = errors.New("field of the wrong type")
	ErrFieldTooLong  = errors.New("field too long")
	ErrBadRequestLn  = errors.New("bad request line")
	ErrBadCookieFld  = errors.New("bad cookie field")
	ErrUnknownFormat = errors.New("unknown format")
)

// maxField bounds every string field, as the pixel and beacon do.
const maxField = 4096

// Parser parses lines. It keeps a scratch buffer for fields that had
// escapes; it is not safe for concurrent use (use one per goroutine).
type Parser struct {
	buf []byte
}

// Parse parses one line (without its line terminator) in format f into r.
func (p *Parser) Parse(f Format, line []byte, r *Record) error {
	switch f {
	case FormatCombined:
		return p.Combined(line, r)
	case FormatNDJSON:
		return p.NDJSON(line, r)
	}
	return ErrUnknownFormat
}

// str returns b as a string without copying. b must not change while the
// string is in use: it points into the line or into p.buf, which is only
// appended to until the next Parse.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// parseIP reads an address, with or without brackets, and unmaps IPv4 in
// IPv6. A zone ("fe80::1%eth0") is dropped.
func parseIP(b []byte) (netip.Addr, error) { return parseIPString(str(b)) }

func parseIPString(b string) (netip.Addr, error) {
	if len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || len(b) > 64 {
		return netip.Addr{}, ErrBadIP
	}
	a, err := netip.ParseAddr(b)
	if err != nil {
		return netip.Addr{}, ErrBadIP
	}
	return a.WithZone("").Unmap(), nil
}

// cookieValue returns the value of the cookie called name in a raw Cookie
// header ("a=1; sezim_consent=v1.x; b=2"), or "".
func cookieValue(h, name string) string {
	for len(h) > 0 {
		var part string
		if i := indexByte(h, ';'); i >= 0 {
			part, h = h[:i], h[i+1:]
		} else {
			part, h = h, ""
		}
		for len(part) > 0 && (part[0] == ' ' || part[0] == '\t') {
			part = part[1:]
		}
		if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
			v := part[len(name)+1:]
			for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
				v = v[:len(v)-1]
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

// bs views s as bytes without copying; the bytes must not be modified.
func bs(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// setCookies fills the consent fields from a raw Cookie header.
func (r *Record) setCookies(h string) {
	if h == "" || h == "-" {
		return
	}
	r.ConsentCookie = cookieValue(h, "sezim_consent")
	r.VisitorCookie = cookieValue(h, "sezim_vid")
}
