package rollup

import (
	"context"
	"time"
)

// RunFinal is the last run of a salt day, as Finish makes it, without
// dropping the day's events.
func (r *Rollup) RunFinal(ctx context.Context, saltDay time.Time) (Result, error) {
	return r.run(ctx, saltDay, final)
}
