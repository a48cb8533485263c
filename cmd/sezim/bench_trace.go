package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// tracedStore prints every statement's wall time and the start of its
// text: `bench rollup --trace` shows which step of a run costs what.
type tracedStore struct {
	store.Store
	mu  sync.Mutex
	out io.Writer
}

func (t *tracedStore) trace(began time.Time, query string) {
	q := strings.Join(strings.Fields(query), " ")
	if len(q) > 110 {
		q = q[:110] + "…"
	}
	t.mu.Lock()
	fmt.Fprintf(t.out, "%8.3f s  %s\n", time.Since(began).Seconds(), q)
	t.mu.Unlock()
}

func (t *tracedStore) Exec(ctx context.Context, query string) error {
	defer t.trace(time.Now(), query)
	return t.Store.Exec(ctx, query)
}

func (t *tracedStore) Query(ctx context.Context, query string, fn func(store.Row) error) error {
	defer t.trace(time.Now(), query)
	return t.Store.Query(ctx, query, fn)
}
