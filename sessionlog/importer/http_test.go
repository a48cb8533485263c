package importer

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sezim-analytics/sezim/sessionlog"
)

// TestHTTPSenderResends: the client's side of the batch protocol. A 409
// (the batch is in progress elsewhere) is sent again after Retry-After with
// the same Idempotency-Key and body, a 400 is not sent again.
func TestHTTPSenderResends(t *testing.T) {
	type request struct{ key, auth, ctype, body string }
	var mu sync.Mutex
	var got []request
	answers := []struct {
		status int
		body   string
	}{
		{http.StatusConflict, `{"error":"batch_in_progress"}`},
		{http.StatusOK, `{"accepted":2,"skipped":{},"rejected":0,"errors":[],"duplicate":true}`},
		{http.StatusBadRequest, `{"error":"bad_idempotency_key"}`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil || r.URL.Path != "/sessionlog" || r.URL.Query().Get("site") != "sez" {
			http.Error(w, "bad request", http.StatusTeapot)
			return
		}
		body, _ := io.ReadAll(zr)
		mu.Lock()
		got = append(got, request{r.Header.Get("Idempotency-Key"), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(body)})
		a := answers[min(len(got), len(answers))-1]
		mu.Unlock()
		if a.status == http.StatusConflict {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	defer srv.Close()
	requests := func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), got...)
	}

	s, err := NewHTTPSender(HTTPOptions{Collector: srv.URL + "/", Key: "k3y", Site: "sez", Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	b := &Batch{Format: sessionlog.FormatNDJSON, Body: []byte("{}\n{}\n"), Lines: 2, Name: BatchName("abc", 0, 6)}
	sum, err := s.Send(t.Context(), b)
	if err != nil || sum.Accepted != 2 || !sum.Duplicate {
		t.Fatalf("after a 409: %+v, %v", sum, err)
	}
	want := request{"import/abc/0-6", "Bearer k3y", "application/x-ndjson", "{}\n{}\n"}
	if r := requests(); len(r) != 2 || r[0] != want || r[1] != want {
		t.Fatalf("requests %+v, want twice %+v", r, want)
	}
	_, err = s.Send(t.Context(), b)
	var fatal errFatal
	if !errors.As(err, &fatal) || !strings.Contains(err.Error(), "400 bad_idempotency_key") || len(requests()) != 3 {
		t.Fatalf("after a 400: %v, %d requests", err, len(requests()))
	}
}
