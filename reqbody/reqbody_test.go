package reqbody

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// serve runs one request through a one-route app and returns what Read
// gave the handler. stream sends the body as a stream of unknown length
// (as chunked bodies arrive), else as a buffered body.
func serve(t testing.TB, l Limit, enc []string, body []byte, stream bool) ([]byte, error) {
	t.Helper()
	var got []byte
	var gotErr error
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/", func(c *fiber.Ctx) error {
		b, err := Read(c, l, nil)
		got, gotErr = bytes.Clone(b), err
		return nil
	})
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/")
	for _, e := range enc {
		req.Header.Add(fiber.HeaderContentEncoding, e)
	}
	if !stream {
		req.SetBody(body)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	if stream { // after Init, which copies the request but not a stream
		ctx.Request.SetBodyStream(bytes.NewReader(body), -1)
	}
	app.Handler()(&ctx)
	return got, gotErr
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

func TestRead(t *testing.T) {
	f := func(l Limit, enc []string, body []byte, want []byte, wantErr error) {
		t.Helper()
		for _, stream := range []bool{false, true} {
			got, err := serve(t, l, enc, body, stream)
			if err != wantErr || (err == nil && !bytes.Equal(got, want)) {
				t.Fatalf("stream %v, encodings %q: got %q %v, want %q %v", stream, enc, got, err, want, wantErr)
			}
		}
	}
	// Compressible, so its gzip (and two gzip members of its halves) are
	// under the limit as sent.
	text := []byte(`{"s":"sez","p":"` + strings.Repeat("a", 200) + `"}`)
	plain := Limit{Max: len(text)}
	zipped := Limit{Max: len(text), Gzip: true}
	f(plain, nil, text, text, nil)
	f(plain, nil, nil, []byte{}, nil)
	f(plain, []string{"identity"}, text, text, nil)
	f(plain, nil, append(text, ' '), nil, ErrTooLarge)
	f(plain, []string{"gzip"}, gz(text), nil, ErrEncoding)
	f(zipped, []string{"gzip"}, gz(text), text, nil)
	f(zipped, []string{" X-GZIP "}, gz(text), text, nil)
	f(zipped, []string{"gzip"}, gz(append(text, ' ')), nil, ErrTooLarge)
	f(zipped, []string{"gzip"}, text, nil, ErrBadGzip)
	f(zipped, []string{"gzip"}, gz(text)[:10], nil, ErrBadGzip)
	f(zipped, []string{"gzip, gzip"}, gz(gz(text)), nil, ErrEncoding)
	f(zipped, []string{"gzip", "gzip"}, gz(gz(text)), nil, ErrEncoding)
	f(zipped, []string{"gzip", "identity"}, gz(text), nil, ErrEncoding)
	f(zipped, []string{"br"}, text, nil, ErrEncoding)
	f(zipped, []string{"deflate"}, text, nil, ErrEncoding)
	f(zipped, []string{"zstd"}, text, nil, ErrEncoding)
	// Concatenated gzip members are one body, and count together.
	f(zipped, []string{"gzip"}, append(gz(text[:100]), gz(text[100:])...), text, nil)
	f(zipped, []string{"gzip"}, append(gz(text), gz([]byte("x"))...), nil, ErrTooLarge)
}

func TestRefusal(t *testing.T) {
	f := func(err error, status int, reason string) {
		t.Helper()
		if s, r := Refusal(err); s != status || r != reason {
			t.Fatalf("Refusal(%v) = %d %q, want %d %q", err, s, r, status, reason)
		}
	}
	f(ErrTooLarge, 413, "too_large")
	f(ErrEncoding, 415, "unsupported_content_encoding")
	f(ErrBadGzip, 400, "bad_gzip")
	f(ErrTruncated, 400, "truncated_body")
	f(io.ErrUnexpectedEOF, 400, "truncated_body")
}

// FuzzRead: whatever the body and its encoding, Read returns at most the
// limit, the body itself when it is not encoded, its gunzip when it is,
// or one of the Err values; never a panic.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"s":"sez"}`), "", false)
	f.Add(gz([]byte(`{"s":"sez"}`)), "gzip", true)
	f.Add(gz(gz(bytes.Repeat([]byte{0}, 1<<16))), "gzip", false)
	f.Add([]byte("\x1f\x8b\x08\x00"), "gzip", true)
	f.Add([]byte("x"), "gzip, br", false)
	l := Limit{Max: 1 << 10, Gzip: true}
	f.Fuzz(func(t *testing.T, body []byte, enc string, stream bool) {
		var encs []string
		if enc != "" {
			encs = []string{enc}
		}
		got, err := serve(t, l, encs, body, stream)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e != ErrTooLarge && e != ErrEncoding && e != ErrBadGzip && e != ErrTruncated) {
				t.Fatalf("error %v is not one of the Err values", err)
			}
			return
		}
		if len(got) > l.Max {
			t.Fatalf("%d bytes past the limit %d", len(got), l.Max)
		}
		want := body
		if e := strings.ToLower(strings.TrimSpace(enc)); e == "gzip" || e == "x-gzip" {
			zr, zerr := gzip.NewReader(bytes.NewReader(body))
			if zerr != nil {
				t.Fatalf("%q read as gzip: %v", body, zerr)
			}
			want, _ = io.ReadAll(zr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}
