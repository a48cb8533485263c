package collector

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/ratelimit"
)

// limitFixture is a collector with consent on a real loopback listener,
// behind a trusted proxy at 127.0.0.1 (so X-Forwarded-For names the
// client), with a clock the test moves.
type limitFixture struct {
	url string
	log *memLog
	reg *prometheus.Registry
	mu  sync.Mutex
	now time.Time
}

func newLimitFixture(t *testing.T, rl ratelimit.Options) *limitFixture {
	t.Helper()
	f := &limitFixture{now: testNow}
	clock := func() time.Time {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.now
	}
	cf := newConsentFixtureFrom(t, strings.Replace(consentYAML, "[10.0.0.1]", "[127.0.0.1]", 1),
		Options{Now: clock, Consent: &ConsentOptions{RateLimit: rl}})
	f.log, f.reg = cf.log, cf.reg
	f.url = "http://" + listen(t, cf.c) + "/consent"
	return f
}

func (f *limitFixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// post sends one decision from client and returns the status, Retry-After
// and body.
func (f *limitFixture) post(t *testing.T, client string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("POST", f.url, strings.NewReader(decision("shown", nil)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("Origin", "https://sez.im")
	req.Header.Set("User-Agent", chromeUA)
	req.Header.Set("X-Forwarded-For", client)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
}

// TestConsentRateLimitPerNetwork checks the limit counts per IPv4 /24 and
// IPv6 /48, answers 429 with Retry-After and a reason, counts the refusal,
// logs nothing for it, and lets the network in again when its window ends.
func TestConsentRateLimitPerNetwork(t *testing.T) {
	f := newLimitFixture(t, ratelimit.Options{Limit: 3, Window: time.Minute})
	want := func(client string, status int, retry string) {
		t.Helper()
		got, ra, body := f.post(t, client)
		if got != status || ra != retry {
			t.Fatalf("%s: status %d Retry-After %q (%s), want %d %q", client, got, ra, body, status, retry)
		}
		if status == http.StatusTooManyRequests && !strings.Contains(body, `"rate_limited"`) {
			t.Fatalf("429 without its reason: %s", body)
		}
	}
	for _, ip := range []string{"203.0.113.7", "203.0.113.8", "203.0.113.250"} {
		want(ip, 200, "")
	}
	want("203.0.113.7", 429, "60")
	want("203.0.113.99", 429, "60") // same /24
	want("198.51.100.1", 200, "")   // another network
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:ffff::9", "2001:db8:1::7"} {
		want(ip, 200, "")
	}
	want("2001:db8:1:abcd::1", 429, "60") // same /48
	want("2001:db8:2::1", 200, "")        // another /48

	f.advance(45 * time.Second)
	want("203.0.113.7", 429, "15")
	f.advance(15 * time.Second)
	want("203.0.113.7", 200, "")

	if got := metric(t, f.reg, "sezim_collector_rejected_total", "rate_limited"); got != 4 {
		t.Fatalf("rejected{reason=rate_limited} = %v, want 4", got)
	}
	f.log.mu.Lock()
	defer f.log.mu.Unlock()
	if n := len(f.log.recs); n != 9 {
		t.Fatalf("%d decisions logged, want 9 (refused ones must not be)", n)
	}
}

// TestConsentRateLimitNotFlushable fills the limiter's table with fresh
// networks, as a stranger would to reset a counter, and checks that the
// network already at its limit stays refused.
func TestConsentRateLimitNotFlushable(t *testing.T) {
	f := newLimitFixture(t, ratelimit.Options{Limit: 2, Window: time.Minute, MaxKeys: 16, OverflowLimit: 1000})
	for range 2 {
		if st, _, body := f.post(t, "192.0.2.1"); st != 200 {
			t.Fatalf("status %d: %s", st, body)
		}
	}
	for i := range 64 {
		ip := net.IPv4(100, 64, byte(i), 1).String()
		if st, _, body := f.post(t, ip); st != 200 {
			t.Fatalf("%s: status %d: %s", ip, st, body)
		}
	}
	if st, _, _ := f.post(t, "192.0.2.77"); st != http.StatusTooManyRequests {
		t.Fatalf("a flood of fresh networks reset a full counter: status %d", st)
	}
}
