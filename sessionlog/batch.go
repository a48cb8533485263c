package sessionlog

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrUnrecorded: a batch was processed but the ledger could not record it,
// so a resend may count it again. RunBatch returns it wrapped, together
// with the batch's summary.
var ErrUnrecorded = errors.New("a processed batch could not be recorded")

// DefaultRecordTimeout bounds recording a batch's outcome.
const DefaultRecordTimeout = 10 * time.Second

// Work processes a claimed batch and returns its summary. An error means
// nothing of the batch may be taken as done: the claim is released without
// a "done" row.
type Work func(ctx context.Context) (Summary, error)

// BatchOptions configure RunBatch.
type BatchOptions struct {
	// Landed, when set, reports whether an earlier run's work on the batch
	// is already in the store, with its summary. Only a sole writer that
	// can find its own writes by batch sets it (`sezim import --direct`:
	// every event carries the batch's name): a run that crashed between
	// its writes and its "done" row is then counted once, and its claim is
	// taken over at once when its work never landed, instead of blocking
	// the batch for ClaimLease.
	Landed func(ctx context.Context) (Summary, bool, error)
	// RecordTimeout bounds recording the outcome; default
	// DefaultRecordTimeout. Recording runs on a context of its own, so a
	// run that is stopped or timed out after its work still records it.
	RecordTimeout time.Duration
}

// RunBatch runs one session-log batch through the ledger, so that it counts
// once however often it is sent: claim it, do the work, record the outcome
// (the protocol and its residual risks are described on Ledger). The batch
// is named by name (an Idempotency-Key, ContentName, or an import's input
// identity and byte range) within site.
//
// It returns the summary of the work, or the first run's summary with
// Duplicate set; ErrInProgress while another run holds the batch; the
// summary and an error wrapping ErrUnrecorded when the work was done but
// could not be recorded; the work's error; or the ledger's error, with
// nothing processed.
func RunBatch(ctx context.Context, l Ledger, site, name string, o BatchOptions, work Work) (Summary, error) {
	if o.RecordTimeout <= 0 {
		o.RecordTimeout = DefaultRecordTimeout
	}
	key := BatchKey(site, name)
	claim, dup, err := l.Begin(ctx, site, key)
	if dup != nil {
		return *dup, nil
	}
	if err != nil && (o.Landed == nil || !errors.Is(err, ErrInProgress)) {
		return Summary{}, err
	}
	record := func(c *Claim, s Summary) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.RecordTimeout)
		defer cancel()
		return l.Finish(rctx, c, s)
	}
	if o.Landed != nil {
		sum, ok, err := o.Landed(ctx)
		if err != nil {
			if claim != nil {
				claim.release()
			}
			return Summary{}, err
		}
		if claim == nil { // a crashed run's claim: ours now, whatever its work did
			if claim, err = l.Takeover(ctx, site, key); err != nil {
				return Summary{}, err
			}
		}
		if ok {
			// Record it as done, so resends through any ledger user
			// count it once too. The writes themselves are the record
			// for this writer: a "done" row that cannot be written now
			// is found the same way by its next run.
			_ = record(claim, sum)
			sum.Duplicate = true
			return sum, nil
		}
	}
	sum, err := work(ctx)
	if err != nil {
		claim.release()
		return Summary{}, err
	}
	if err := record(claim, sum); err != nil {
		return sum, fmt.Errorf("%w: %w", ErrUnrecorded, err)
	}
	return sum, nil
}
