// Package reqbody reads a request body within a route's bound, counted both
// as sent and after decoding, so that no request can make the process hold
// more than its route allows. Fiber's ctx.Body() and FormValue inflate gzip,
// br and deflate without a bound and follow stacked encodings (a 661-byte
// request once inflated to 300 MiB): public handlers read through Read
// instead and never call either.
//
// Read works on a streamed body (fiber.Config.StreamRequestBody, where the
// handler runs before the body is read, so a route can check a key first)
// and on a buffered one (the app's BodyLimit then bounds what was read).
package reqbody

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Limit is what one route accepts.
type Limit struct {
	// Max bounds the body in bytes as sent and, when gzipped, after gunzip.
	Max int
	// Gzip accepts one layer of "Content-Encoding: gzip"; without it any
	// encoding but identity is refused.
	Gzip bool
}

// Error is a refused body: the HTTP status to answer and a short fixed
// reason, safe as a metric label and a response text.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "request body refused: " + e.Reason }

// The refusals Read returns; each is the only value of its reason.
var (
	// ErrTooLarge: the body is past the limit as sent or after gunzip.
	ErrTooLarge = &Error{fiber.StatusRequestEntityTooLarge, "too_large"}
	// ErrEncoding: a Content-Encoding the route does not take: br,
	// deflate, unknown ones, stacked ones ("gzip, gzip"), or gzip where
	// only identity is accepted.
	ErrEncoding = &Error{fiber.StatusUnsupportedMediaType, "unsupported_content_encoding"}
	// ErrBadGzip: the body says gzip and is not.
	ErrBadGzip = &Error{fiber.StatusBadRequest, "bad_gzip"}
	// ErrTruncated: the body ended before its length, or its chunked
	// framing was broken.
	ErrTruncated = &Error{fiber.StatusBadRequest, "truncated_body"}
)

// Refusal returns the status and reason of an error from Read.
func Refusal(err error) (status int, reason string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Reason
	}
	return fiber.StatusBadRequest, ErrTruncated.Reason
}

// drainedKey marks a request whose body Read consumed to its end.
type drainedKey struct{}

// Read returns the body of c's request, decoded, at most l.Max bytes. dst is
// scratch the result may reuse (a pooled buffer keeps the hot path free of
// allocations); the result is valid until dst is reused.
//
// A refusal is one of the Err values. Whatever it is, the bytes past the
// limit are never kept: DiscardUnread throws a short rest away or closes
// the connection, so the rest of a lying or endless body is not parsed as
// the next request.
func Read(c *fiber.Ctx, l Limit, dst []byte) ([]byte, error) {
	req := c.Request()
	gz, err := encoding(req, l.Gzip)
	if err != nil {
		return dst[:0], refuse(c, err)
	}
	// Content-Length is -1 when chunked: then only reading tells the size.
	n := req.Header.ContentLength()
	if n > l.Max {
		return dst[:0], refuse(c, ErrTooLarge)
	}
	var raw []byte
	if req.IsBodyStream() {
		if raw, err = readAtMost(dst[:0], c.Context().RequestBodyStream(), l.Max, n); err != nil {
			return dst[:0], refuse(c, err)
		}
	} else if raw = req.Body(); len(raw) > l.Max { // the raw bytes: no decoding
		return dst[:0], ErrTooLarge
	}
	c.Locals(drainedKey{}, true)
	if !gz {
		return raw, nil
	}
	// Two passes: the first only counts, so a bomb is refused having
	// cost CPU but no memory, and a body that fits is then inflated into
	// one buffer of its exact size.
	size, err := gunzip(io.Discard, raw, l.Max)
	if err != nil {
		return dst[:0], err
	}
	out := make([]byte, size)
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return dst[:0], ErrBadGzip
	}
	if _, err := io.ReadFull(zr, out); err != nil {
		return dst[:0], ErrBadGzip
	}
	return out, nil
}

// gunzip inflates gz into w and returns the inflated size; past max bytes
// it stops with ErrTooLarge.
func gunzip(w io.Writer, gz []byte, max int) (int, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return 0, ErrBadGzip
	}
	n, err := io.Copy(w, io.LimitReader(zr, int64(max)+1))
	switch {
	case err != nil:
		return 0, ErrBadGzip
	case n > int64(max):
		return 0, ErrTooLarge
	}
	return int(n), nil
}

// encoding says whether the body is gzipped, or refuses its encoding. Only
// one Content-Encoding header with one token is taken: two headers or a
// list are stacked encodings, and each layer would multiply the inflation.
func encoding(req *fiber.Request, gzipOK bool) (bool, error) {
	all := req.Header.PeekAll(fiber.HeaderContentEncoding)
	switch len(all) {
	case 0:
		return false, nil
	case 1:
	default:
		return false, ErrEncoding
	}
	switch strings.ToLower(strings.TrimSpace(string(all[0]))) {
	case "", "identity":
		return false, nil
	case "gzip", "x-gzip":
		if gzipOK {
			return true, nil
		}
	}
	return false, ErrEncoding
}

// readAtMost appends src to dst until EOF, refusing with ErrTooLarge on
// byte max+1, and with ErrTruncated on any other read error (a broken
// chunk, a closed connection, a read timeout). size is the expected length
// (-1: unknown), so a body of known length is read into one allocation.
func readAtMost(dst []byte, src io.Reader, max, size int) ([]byte, error) {
	// One byte more than the length, so the EOF is seen without growing.
	if size >= 0 && cap(dst) < size+1 {
		dst = make([]byte, 0, size+1)
	}
	for {
		if len(dst) == cap(dst) {
			if len(dst) > max {
				return dst, ErrTooLarge
			}
			// Grow by doubling, to at most one byte past the limit:
			// that byte is how an over-long body shows.
			dst = append(dst, 0)[:len(dst)]
			if c := min(cap(dst), max+1); c < cap(dst) {
				dst = dst[:len(dst):c]
			}
		}
		k, err := src.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+k]
		if len(dst) > max {
			return dst, ErrTooLarge
		}
		switch {
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst, ErrTruncated
		}
	}
}

// refuse deals with the rest of a refused body (see DiscardUnread) and
// returns err.
func refuse(c *fiber.Ctx, err error) error {
	DiscardUnread(c)
	return err
}

// HasBody reports whether the request announced a body: a Content-Length
// above zero, or chunked transfer.
func HasBody(c *fiber.Ctx) bool {
	n := c.Request().Header.ContentLength()
	return n > 0 || n == -1
}

// discardMax is how much of a body nobody reads DiscardUnread throws away
// to keep its connection open. A server that closes a connection with
// unread bytes resets it, and a client still sending may then lose the
// answer instead of reading it; past this much, the connection is closed
// all the same.
const discardMax = 1 << 20

// DiscardUnread makes the connection safe for its next request when the
// request has a streamed body that Read did not consume to its end (a
// refused request, a route that takes no body, an unknown route): up to
// discardMax bytes of the rest are read and thrown away, with no memory
// kept; past that the connection is closed after the answer. Either way the
// rest of a body is never parsed as the next request. Apps call it after
// every handler (Middleware does).
func DiscardUnread(c *fiber.Ctx) {
	req := c.Request()
	if !HasBody(c) || !req.IsBodyStream() || c.Locals(drainedKey{}) != nil {
		return
	}
	c.Locals(drainedKey{}, true)
	if req.Header.ContentLength() <= discardMax {
		n, err := io.CopyN(io.Discard, c.Context().RequestBodyStream(), discardMax+1)
		if errors.Is(err, io.EOF) && n <= discardMax {
			return
		}
	}
	c.Context().SetConnectionClose()
}

// Middleware runs the handlers, then DiscardUnread: the first middleware of
// an app with StreamRequestBody.
func Middleware(c *fiber.Ctx) error {
	err := c.Next()
	DiscardUnread(c)
	return err
}
