package collector

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition; a non-nil error makes /readyz fail. The
// error text is shown to the operator, so it must name no visitor value.
type Check struct {
	Name string
	Func func(ctx context.Context) error
	// Detail, when set, is shown instead of "ok" while the check passes:
	// what the operator wants to see even then (how far behind the
	// aggregates are).
	Detail func() string
}

// AdminHandler serves the operator endpoints on the admin listener:
// /healthz (the process answers), /readyz (every check passes) and /metrics.
func AdminHandler(gather prometheus.Gatherer, checks []Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		status := http.StatusOK
		out := map[string]string{}
		for _, c := range checks {
			if err := c.Func(ctx); err != nil {
				status = http.StatusServiceUnavailable
				out[c.Name] = err.Error()
			} else if c.Detail != nil {
				out[c.Name] = c.Detail()
			} else {
				out[c.Name] = "ok"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{}))
	// Profiles for the operator (the admin listener is on loopback by
	// default); they hold code paths and timings, never request data.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
