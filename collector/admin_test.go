package collector

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestReadyzBody checks /readyz over real HTTP: each check's line is "ok",
// its Detail while it passes, or its error (and then 503).
func TestReadyzBody(t *testing.T) {
	failing := errors.New("no rollup has succeeded for 1860 s")
	f := func(checks []Check, wantStatus int, want map[string]string) {
		t.Helper()
		srv := httptest.NewServer(AdminHandler(prometheus.NewRegistry(), checks))
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != wantStatus || len(got) != len(want) {
			t.Fatalf("status %d, body %v; want %d, %v", resp.StatusCode, got, wantStatus, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: %q, want %q", k, got[k], v)
			}
		}
	}
	ok := func(context.Context) error { return nil }
	detail := func() string { return "lag 4 s; last run 1 s ago" }
	f([]Check{{Name: "store", Func: ok}, {Name: "rollup", Func: ok, Detail: detail}}, 200,
		map[string]string{"store": "ok", "rollup": "lag 4 s; last run 1 s ago"})
	f([]Check{{Name: "store", Func: ok}, {Name: "rollup", Func: func(context.Context) error { return failing }, Detail: detail}}, 503,
		map[string]string{"store": "ok", "rollup": failing.Error()})
}
