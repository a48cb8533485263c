package dashboards

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/reqbody/reqbodytest"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestSignInBodies sends the sign-in form every encoding and framing at its
// limit and far past it over real connections: each is refused with its
// reason before the form is parsed, and a valid form at the limit signs in.
func TestSignInBodies(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = f.srv.App().Listener(ln) }()
		t.Cleanup(func() { _ = f.srv.App().Shutdown() })
		form := url.Values{"user": {"admin"}, "password": {testPassword}}.Encode() + "&pad="
		valid := form + strings.Repeat("x", staff.MaxLoginBytes-len(form))
		reqbodytest.Run(t, ln.Addr().String(), []reqbodytest.Route{{
			Name: "login", Path: "/app/login", Limit: staff.MaxLoginBytes, Valid: []byte(valid), OK: http.StatusSeeOther,
			Header: map[string]string{"Host": "dash.test", "Origin": "http://dash.test",
				"Content-Type": "application/x-www-form-urlencoded"},
		}})
	})
}
