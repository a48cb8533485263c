package consentlog

import "github.com/sezim-analytics/sezim/hashchain"

// Queued reports how many decisions wait for the writer, so tests can
// line up a group without guessing at timing.
func (l *Log) Queued() int {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	return len(l.queue)
}

// Hold makes the writer call fn with each group's size before journaling
// it, so a test can hold a group while others queue. Call it before the
// first Append.
func (l *Log) Hold(fn func(n int)) { l.hold = fn }

// Crash stops the log as a killed process would: queued decisions are
// journaled (they were not answered yet, as in a crash after the write),
// nothing is shipped, and the folder's lock is released.
func (l *Log) Crash() {
	if !l.stopWriter() {
		return
	}
	_ = l.j.close(false)
	_ = l.lock.Close()
	if l.ownCps {
		_ = l.opts.Checkpoints.Close()
	}
}

// SumAs is the row hash r should have by its hash_alg, keyed under k.
func (r *Record) SumAs(k *hashchain.Key) string { return r.sumAs(k) }
