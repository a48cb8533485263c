package collector

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/site"
)

// newConsentFixtureFrom builds a collector with consent over the site
// configuration yaml (consentYAML, possibly edited), the tests' key, a
// pipeline that honours the consent cookie into a capture sink, and an
// in-memory consent log. o's Consent may set the other consent options; its
// Now defaults to testNow.
func newConsentFixtureFrom(t testing.TB, yaml string, o Options) *consentFixture {
	t.Helper()
	cfg, err := site.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := consent.NewKeys(bytes.Repeat([]byte{7}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	salts, err := anon.NewSalts("", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	if o.Consent == nil {
		o.Consent = &ConsentOptions{}
	}
	f := &consentFixture{log: &memLog{}, keys: keys, reg: prometheus.NewRegistry(), sink: &captureSink{}}
	o.Sites, o.Reg = cfg, f.reg
	o.Consent.Keys, o.Consent.Log = keys, f.log
	o.Pipeline = pipeline.New(pipeline.Options{Sites: cfg, Salts: salts, Sink: f.sink, Reg: f.reg, Now: o.Now,
		Consent: pipeline.ConsentFromCookie(keys)})
	f.c = New(o)
	return f
}

// listen serves c on a loopback port until the test ends and returns the
// address.
func listen(t testing.TB, c *Collector) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.App().Listener(ln) }()
	t.Cleanup(func() {
		if err := c.App().ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Error(err)
		}
		<-done
	})
	return ln.Addr().String()
}
