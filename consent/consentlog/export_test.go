package consentlog

// Queued reports how many decisions wait for the writer, so tests can
// line up a group without guessing at timing.
func (l *Log) Queued() int {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	return len(l.queue)
}
