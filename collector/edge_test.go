package collector

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/reqbody/reqbodytest"
)

// edgeLogBytes is the session-log limit of the edge test: small, so a body
// at the limit is quick to send.
const edgeLogBytes = 64 << 10

// newEdgeServer serves a collector with every route (consent and the
// session log included) on loopback and returns its address.
func newEdgeServer(t *testing.T) (string, *prometheus.Registry) {
	t.Helper()
	const origins = "    origins: [https://sez.im, https://*.app.sez.im]\n"
	if !strings.Contains(consentYAML, origins) {
		t.Fatal("the consent fixture's origins changed: the ingest key would not be added")
	}
	yaml := strings.Replace(consentYAML, origins, origins+"    ingest_keys: ["+slKey+"]\n", 1)
	f := newConsentFixtureFrom(t, yaml, Options{SessionLog: SessionLogOptions{MaxBytes: edgeLogBytes}})
	return listen(t, f.c), f.reg
}

// padJSON pads a JSON object with an unknown member to exactly n bytes.
func padJSON(obj string, n int) []byte {
	head := obj[:len(obj)-1] + `,"pad":"`
	return []byte(head + strings.Repeat("x", n-len(head)-2) + `"}`)
}

// TestEdgeBodies sends every route every encoding and framing at its limit
// and far past it, over real connections.
func TestEdgeBodies(t *testing.T) {
	addr, reg := newEdgeServer(t)
	browser := map[string]string{"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://sez.im",
		"User-Agent": chromeUA, "Accept": "*/*", "Accept-Language": "ru"}
	logBody := slLines(3)
	logBody += strings.Repeat("x", edgeLogBytes-len(logBody)-1) + "\n"
	reqbodytest.Run(t, addr, []reqbodytest.Route{
		{Name: "beacon", Path: "/e", Header: browser, Limit: MaxBeaconBytes, Gzip: true, OK: http.StatusAccepted,
			Valid: padJSON(`{"s":"sez","u":"https://sez.im/a"}`, MaxBeaconBytes)},
		{Name: "consent", Path: "/consent", Header: browser, Limit: MaxConsentBytes, Gzip: true, OK: http.StatusOK,
			Valid: padJSON(decision("accept_all", nil), MaxConsentBytes)},
		{Name: "sessionlog", Path: "/sessionlog?site=sez", Limit: edgeLogBytes, Gzip: true, OK: http.StatusOK,
			Header: map[string]string{"Authorization": "Bearer " + slKey, "Content-Type": "text/plain"}, Valid: []byte(logBody)},
		{Name: "pixel", Method: "GET", Path: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/"}), Header: browser, OK: http.StatusOK},
		{Name: "script", Method: "GET", Path: "/s.js", OK: http.StatusOK},
		{Name: "consent config", Method: "GET", Path: "/consent/config?s=sez", Header: browser, OK: http.StatusOK},
		{Name: "consent state", Method: "GET", Path: "/consent/state?s=sez", Header: browser, OK: http.StatusOK},
	})
	for _, want := range [][2]string{{"beacon", "too_large"}, {"beacon", "unsupported_content_encoding"},
		{"consent", "too_large"}, {"sessionlog", "unsupported_content_encoding"}, {"get", "too_large"}} {
		if rejected(t, reg, want[0], want[1]) == 0 {
			t.Errorf("no rejection counted for route %s reason %s", want[0], want[1])
		}
	}
}

// rejected returns sezim_collector_rejected_total{route,reason}.
func rejected(t *testing.T, reg *prometheus.Registry, route, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sezim_collector_rejected_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["route"] == route && l["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestSessionLogChecksTheKeyBeforeTheBody: a request with a wrong key is
// answered 401 once its headers and the first 16 KiB are in (the server
// reads at most 8 KiB ahead of the handler); the rest of its declared
// 16 MiB is never sent.
func TestSessionLogChecksTheKeyBeforeTheBody(t *testing.T) {
	addr, _ := newEdgeServer(t)
	for _, auth := range []string{"Bearer wrong-key", ""} {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		head := "POST /sessionlog?site=sez HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 16777216\r\n"
		if auth != "" {
			head += "Authorization: " + auth + "\r\n"
		}
		if _, err := conn.Write([]byte(head + "\r\n" + strings.Repeat("x", 16<<10))); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer before the body: %v", err)
		}
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
			t.Fatalf("got %d (close %v), want 401 and the connection closed", resp.StatusCode, resp.Close)
		}
		conn.Close()
	}
}
