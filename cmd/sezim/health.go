package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthCmd asks a running serve's operator listener whether it is ready
// (GET /readyz) and exits 0 only on 200: the container health check, in
// an image that has no curl.
func healthCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("health", "Exit 0 when a running sezim serve answers /readyz with 200 (for container health checks).", stderr)
	url := fs.String("url", "http://127.0.0.1:9090/readyz", "readiness URL of the serve to check")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("cannot ask %s: %w", *url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no answer from %s: %w", *url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready (%s %d): %s", *url, resp.StatusCode, body)
	}
	fmt.Fprintf(stdout, "ready: %s", body)
	return nil
}
