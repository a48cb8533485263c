package collector

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentRequestsKeepTheirOwnValues fires requests from many
// goroutines over real loopback connections. Fiber reuses request memory
// after a handler returns; an event that kept a reference into it would show
// another request's path here (and the race detector would object).
func TestConcurrentRequestsKeepTheirOwnValues(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.c.App().Listener(ln) }()
	defer f.c.App().Shutdown()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

	const workers, perWorker = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				path := fmt.Sprintf("/w%d/page-%d", w, i)
				var req *http.Request
				post := func(route, body string) {
					req, _ = http.NewRequest("POST", base+route, strings.NewReader(body))
					req.Header.Set("Content-Type", "text/plain")
				}
				switch i % 4 {
				case 0:
					req, _ = http.NewRequest("GET", base+"/p.gif?s=sez&u="+url.QueryEscape("https://sez.im"+path)+"&n="+fmt.Sprintf("ev-%d-%d", w, i), nil)
				case 1:
					post("/e", fmt.Sprintf(`{"s":"sez","u":"https://sez.im%s","n":"ev-%d-%d"}`, path, w, i))
				case 2: // Plausible's drop-in API
					post("/api/event", fmt.Sprintf(`{"d":"sez.im","u":"https://sez.im%s","n":"ev-%d-%d"}`, path, w, i))
				case 3: // Umami's
					post("/api/send", fmt.Sprintf(`{"type":"event","payload":{"hostname":"sez.im","url":"%s","name":"ev-%d-%d"}}`, path, w, i))
				}
				req.Header.Set("User-Agent", chromeUA)
				req.Header.Set("Accept", "*/*")
				req.Header.Set("Accept-Language", "ru")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					errs <- fmt.Errorf("%s: status %d", path, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := f.sink.all()
	if len(got) != workers*perWorker {
		t.Fatalf("%d events, want %d", len(got), workers*perWorker)
	}
	seen := map[string]bool{}
	for _, e := range got {
		var w, i int
		if _, err := fmt.Sscanf(e.Path, "/w%d/page-%d", &w, &i); err != nil {
			t.Fatalf("garbled path %q", e.Path)
		}
		if want := fmt.Sprintf("ev-%d-%d", w, i); e.Name != want {
			t.Fatalf("event %q carries name %q: values of two requests were mixed", e.Path, e.Name)
		}
		if seen[e.Path] {
			t.Fatalf("path %q seen twice", e.Path)
		}
		seen[e.Path] = true
	}
}
