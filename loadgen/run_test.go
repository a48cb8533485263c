package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestRunAgainstALocalServer(t *testing.T) {
	var pixels, beacons atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/p.gif" && r.URL.Query().Get("s") == "bench":
			pixels.Add(1)
			w.WriteHeader(200)
		case r.Method == "POST" && r.URL.Path == "/e":
			b, _ := io.ReadAll(r.Body)
			if !strings.Contains(string(b), `"s":"bench"`) {
				w.WriteHeader(400)
				return
			}
			beacons.Add(1)
			w.WriteHeader(202)
		default:
			w.WriteHeader(404)
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	for _, rate := range []int{0, 2000} {
		r, err := Run(context.Background(), Options{Target: "http://" + ln.Addr().String(), Site: "bench", Host: "bench.example",
			Conns: 8, Duration: 500 * time.Millisecond, Rate: rate, Mix: DefaultMix, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if r.Errors != 0 || r.OK != r.Sent || r.Sent == 0 || r.Countable == 0 || r.Countable >= r.OK {
			t.Fatalf("rate %d: %s (countable %d)", rate, r, r.Countable)
		}
		// How many an open loop sends depends on how busy the machine is
		// (a late schedule sends less, never more); the schedule itself
		// is checked exactly in TestScheduleIsExact.
		if rate > 0 && r.Sent > 1100 {
			t.Fatalf("open loop at %d/s for 0.5s sent %d", rate, r.Sent)
		}
	}
	if pixels.Load() == 0 || beacons.Load() == 0 {
		t.Fatalf("mix sent %d pixels and %d beacons", pixels.Load(), beacons.Load())
	}
	if _, err := Run(context.Background(), Options{Target: "http://192.0.2.1:80", Site: "b", Host: "h", Duration: time.Second}); err == nil {
		t.Fatal("a non-loopback target was accepted")
	}
}

// TestScheduleIsExact runs the open-loop schedule on a fake clock: at
// 2,000/s for 0.5 s it emits requests 0..999 at start + i/2000, however
// slow the machine; as it hands out a time up to 1 ms early, the two due
// at and just after the deadline may be emitted too.
func TestScheduleIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		out := make(chan time.Time)
		go schedule(ctx, out, 2000, start)
		var got []time.Time
		for at := range out {
			got = append(got, at)
			time.Sleep(time.Until(at)) // a worker sends at its time
		}
		if len(got) < 1000 || len(got) > 1002 {
			t.Fatalf("emitted %d send times, want 1000 to 1002", len(got))
		}
		for i, at := range got {
			if want := start.Add(time.Duration(i) * 500 * time.Microsecond); !at.Equal(want) {
				t.Fatalf("send %d at %v, want %v", i, at.Sub(start), want.Sub(start))
			}
		}
	})
}

// TestConsentMixSendsValidDecisions checks the consent mix posts only
// decisions a banner would send (site, action, lang, a 64-digit text hash,
// the policy version, an Origin) and counts each acknowledged one.
func TestConsentMixSendsValidDecisions(t *testing.T) {
	var bad, shown, chosen atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d struct {
			S             string   `json:"s"`
			Action        string   `json:"action"`
			Lang          string   `json:"lang"`
			TextHash      string   `json:"text_hash"`
			PolicyVersion string   `json:"policy_version"`
			Purposes      []string `json:"purposes"`
		}
		body, _ := io.ReadAll(r.Body)
		err := json.Unmarshal(body, &d)
		ok := err == nil && r.Method == "POST" && r.URL.Path == "/consent" && r.Header.Get("Origin") == "https://bench.example" &&
			d.S == "bench" && d.PolicyVersion == "v7" && len(d.TextHash) == 64 && strings.Trim(d.TextHash, "0123456789abcdef") == "" &&
			(d.Lang == "ru" || d.Lang == "kk" || d.Lang == "en") && r.Header.Get("X-Forwarded-For") != ""
		switch {
		case !ok:
			bad.Add(1)
			w.WriteHeader(400)
			return
		case d.Action == "shown":
			shown.Add(1)
		case d.Action == "accept_all" || d.Action == "reject_all" || d.Action == "custom" && len(d.Purposes) == 1:
			chosen.Add(1)
		default:
			bad.Add(1)
			w.WriteHeader(400)
			return
		}
		w.WriteHeader(200)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	r, err := Run(context.Background(), Options{Target: "http://" + ln.Addr().String(), Site: "bench", Host: "bench.example",
		Conns: 4, Duration: 300 * time.Millisecond, Mix: ConsentMix, Seed: 5, PolicyVersion: "v7"})
	if err != nil {
		t.Fatal(err)
	}
	if bad.Load() != 0 || r.Sent == 0 || r.OK != r.Sent || r.Decisions != r.OK || r.Countable != 0 {
		t.Fatalf("%s: %d bad, %d decisions, %d countable", r, bad.Load(), r.Decisions, r.Countable)
	}
	if r.Sent > 20 && (shown.Load() == 0 || chosen.Load() == 0) {
		t.Fatalf("%d shown, %d choices", shown.Load(), chosen.Load())
	}
}
