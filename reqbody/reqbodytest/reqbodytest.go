// Package reqbodytest sends a route every way of framing and encoding a
// body, at the route's limit and far past it, over real TCP, and checks
// each answer: the edge test of every app that reads bodies through reqbody.
package reqbodytest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Route is one route under test.
type Route struct {
	Name string
	// Method is POST unless set.
	Method, Path string
	// Header is sent with every request: Host, keys, content type, origin.
	Header map[string]string
	// Limit is the route's body limit; 0: the route takes no body.
	Limit int
	// Valid is a body the route takes, exactly Limit bytes (nil with Limit
	// 0), and OK the status it gets.
	Valid []byte
	OK    int
	// Gzip says the route takes one layer of gzip.
	Gzip bool
}

// Answer is what came back on one connection.
type Answer struct {
	Status int
	Reason string // the "error" of a JSON answer, if any
	// Closed: the server closed the connection after the answer.
	Closed bool
}

// framing says how a body is sent.
type framing int

const (
	fixed      framing = iota // Content-Length: the body's length
	chunked                   // Transfer-Encoding: chunked, 4 KiB chunks
	endless                   // chunked, 64 MiB of 'x' unless refused first
	lyingLong                 // Content-Length: 1 GiB, then 64 KiB and a wait
	lyingShort                // Content-Length: half the body, then all of it
)

// farPast is how much the endless bodies send at most: far past any limit,
// and bounded, so a server that reads it all still lets the test end.
const farPast = 64 << 20

// Gz gzips b at best compression.
func Gz(b []byte) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression) // a valid level
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

var (
	bombOnce sync.Once
	bomb     []byte
)

// Bomb is about 4 KB of gzip that inflates to 4 MiB: under every POST
// route's limit as sent, far past it after gunzip.
func Bomb() []byte {
	bombOnce.Do(func() { bomb = Gz(bytes.Repeat([]byte("a"), 4<<20)) })
	return bomb
}

type bodyCase struct {
	name   string
	enc    []string // one Content-Encoding header per element
	body   func(r *Route) []byte
	how    framing
	status func(r *Route) (int, string) // want; status 0: any below 500
}

func refuse(status int, reason string) func(*Route) (int, string) {
	return func(*Route) (int, string) { return status, reason }
}

// gzipOr answers ok for a route that takes gzip, else 415.
func gzipOr(ok func(*Route) (int, string)) func(*Route) (int, string) {
	return func(r *Route) (int, string) {
		if !r.Gzip {
			return 415, "unsupported_content_encoding"
		}
		return ok(r)
	}
}

func valid(r *Route) []byte        { return r.Valid }
func pastBy1(r *Route) []byte      { return append(bytes.Clone(r.Valid), ' ') }
func takes(r *Route) (int, string) { return r.OK, "" }

var postCases = []bodyCase{
	{"none at limit", nil, valid, fixed, takes},
	{"none one past", nil, pastBy1, fixed, refuse(413, "too_large")},
	{"none far past, lying length", nil, valid, lyingLong, refuse(413, "too_large")},
	{"gzip at limit", []string{"gzip"}, func(r *Route) []byte { return Gz(r.Valid) }, fixed, gzipOr(takes)},
	{"gzip one past", []string{"gzip"}, func(r *Route) []byte { return Gz(pastBy1(r)) }, fixed, gzipOr(refuse(413, "too_large"))},
	{"gzip bomb", []string{"gzip"}, func(*Route) []byte { return Bomb() }, fixed, gzipOr(refuse(413, "too_large"))},
	{"gzip, gzip", []string{"gzip, gzip"}, func(r *Route) []byte { return Gz(Gz(r.Valid)) }, fixed, refuse(415, "unsupported_content_encoding")},
	{"gzip twice as headers", []string{"gzip", "gzip"}, func(r *Route) []byte { return Gz(Gz(r.Valid)) }, fixed, refuse(415, "unsupported_content_encoding")},
	{"br", []string{"br"}, valid, fixed, refuse(415, "unsupported_content_encoding")},
	{"deflate", []string{"deflate"}, valid, fixed, refuse(415, "unsupported_content_encoding")},
	{"unknown", []string{"compress"}, valid, fixed, refuse(415, "unsupported_content_encoding")},
	{"chunked at limit", nil, valid, chunked, takes},
	{"chunked far past", nil, nil, endless, refuse(413, "too_large")},
	{"lying short length", nil, func(r *Route) []byte { return append(bytes.Clone(r.Valid), bytes.Repeat([]byte("x"), 1<<20)...) }, lyingShort, nil},
}

var getCases = []bodyCase{
	{"no body", nil, func(*Route) []byte { return nil }, fixed, takes},
	{"a body", nil, func(*Route) []byte { return []byte("x") }, fixed, refuse(413, "too_large")},
	{"far past, lying length", nil, func(*Route) []byte { return nil }, lyingLong, refuse(413, "too_large")},
	{"gzip bomb", []string{"gzip"}, func(*Route) []byte { return Bomb() }, fixed, refuse(413, "too_large")},
	{"chunked", nil, func(*Route) []byte { return []byte("x") }, chunked, refuse(413, "too_large")},
	{"chunked far past", nil, nil, endless, refuse(413, "too_large")},
}

// Run sends each route every case as a subtest, over a new connection to
// addr each, and checks the status and reason.
func Run(t *testing.T, addr string, routes []Route) {
	for i := range routes {
		r := &routes[i]
		if r.Method == "" {
			r.Method = http.MethodPost
		}
		cases := postCases
		if r.Limit == 0 {
			cases = getCases
		} else if len(r.Valid) != r.Limit {
			t.Fatalf("%s: the valid body has %d bytes, want the limit %d", r.Name, len(r.Valid), r.Limit)
		}
		if r.Limit > 0 && len(Bomb()) >= r.Limit && r.Gzip {
			t.Fatalf("%s: the bomb (%d bytes) is not under the limit as sent", r.Name, len(Bomb()))
		}
		for _, bc := range cases {
			t.Run(r.Name+"/"+bc.name, func(t *testing.T) {
				var body []byte
				if bc.body != nil {
					body = bc.body(r)
				}
				got := send(t, addr, r, bc.enc, body, bc.how)
				if bc.status == nil {
					if got.Status >= 500 || got.Status == 0 {
						t.Fatalf("got %+v, want an answer below 500", got)
					}
					if !got.Closed {
						t.Fatal("the connection stayed open after a body longer than its length")
					}
					return
				}
				status, reason := bc.status(r)
				if got.Status != status || (reason != "" && got.Reason != reason) {
					t.Fatalf("got %d %q, want %d %q", got.Status, got.Reason, status, reason)
				}
			})
		}
	}
}

// send writes one request with the given encodings and framing on a new
// connection while reading its answer, and returns the answer. The writer
// stops at the first write error: a server that refuses a long body closes the
// connection instead of reading the rest.
func send(t testing.TB, addr string, r *Route, enc []string, body []byte, how framing) Answer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	var head strings.Builder
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\n", method, r.Path)
	if _, ok := r.Header["Host"]; !ok {
		head.WriteString("Host: " + addr + "\r\n")
	}
	for k, v := range r.Header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	for _, e := range enc {
		fmt.Fprintf(&head, "Content-Encoding: %s\r\n", e)
	}
	switch how {
	case fixed:
		if body != nil || method != http.MethodGet {
			fmt.Fprintf(&head, "Content-Length: %d\r\n", len(body))
		}
	case chunked, endless:
		head.WriteString("Transfer-Encoding: chunked\r\n")
	case lyingLong:
		head.WriteString("Content-Length: 1073741824\r\n")
	case lyingShort:
		fmt.Fprintf(&head, "Content-Length: %d\r\n", len(body)/2)
	}
	head.WriteString("\r\n")

	done := make(chan struct{})
	go func() {
		defer close(done)
		w := bufio.NewWriterSize(conn, 32<<10)
		_, _ = w.WriteString(head.String())
		switch how {
		case fixed, lyingShort:
			_, _ = w.Write(body)
		case chunked:
			for b := body; len(b) > 0; {
				n := min(len(b), 4<<10)
				fmt.Fprintf(w, "%x\r\n", n)
				_, _ = w.Write(b[:n])
				_, _ = w.WriteString("\r\n")
				b = b[n:]
			}
			_, _ = w.WriteString("0\r\n\r\n")
		case endless:
			chunk := bytes.Repeat([]byte("x"), 32<<10)
			for sent := 0; sent < farPast; sent += len(chunk) {
				fmt.Fprintf(w, "%x\r\n", len(chunk))
				_, _ = w.Write(chunk)
				if _, err := w.WriteString("\r\n"); err != nil {
					return
				}
			}
			_, _ = w.WriteString("0\r\n\r\n")
		case lyingLong:
			_, _ = w.Write(bytes.Repeat([]byte("x"), 64<<10))
		}
		_ = w.Flush()
	}()
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	a := Answer{Status: resp.StatusCode, Closed: resp.Close}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil {
		a.Reason = e.Error
	}
	if !a.Closed && how == lyingShort {
		// What follows the declared length is parsed as a next request,
		// which the server refuses, and then it closes the connection:
		// reading ends in EOF or a reset, not in the deadline.
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.Copy(io.Discard, br)
		var ne net.Error
		a.Closed = err == nil || !(errors.As(err, &ne) && ne.Timeout())
	}
	_ = conn.Close()
	<-done
	return a
}
