// Package importer is the client side of session-log batches: it reads
// access logs (plain or gzipped files, or stdin), cuts them into batches of
// whole lines, names each batch by its input's identity and byte range,
// remembers in a state file how far each input was acknowledged, and hands
// every batch to a Sender. HTTPSender posts batches to a collector's
// POST /sessionlog; DirectSender runs them through a pipeline in this
// process straight into the store.
//
// It lives under sessionlog because its nouns are that package's: batches,
// their names, their summaries and the ledger protocol (RunBatch) that makes
// a resent batch count once. The command (cmd/sezim import) only parses
// flags and wires the pieces together.
package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sezim-analytics/sezim/sessionlog"
)

// DefaultBatchLines is how many lines a batch holds unless told otherwise:
// one request, or one insert with DirectSender.
const DefaultBatchLines = 10_000

// MaxBatchLines bounds Options.BatchLines.
const MaxBatchLines = 1_000_000

// Options configure Run.
type Options struct {
	// Format of the lines; 0 picks one per input by its first line
	// (NDJSON when it starts with "{", combined otherwise).
	Format sessionlog.Format
	// BatchLines is the number of lines per batch; default
	// DefaultBatchLines, at most MaxBatchLines.
	BatchLines int
	// StatePath is the resume file; "" keeps no state.
	StatePath string
	// Progress is the display: "auto" (default: a bar on a terminal,
	// periodic lines otherwise), "bar", "lines" or "none".
	Progress string
	// ProgressInterval is how often a progress line is printed in "lines"
	// mode; default 10 seconds.
	ProgressInterval time.Duration
	// Stdout receives the summary, Stderr progress and notes; nil: discarded.
	Stdout, Stderr io.Writer
}

func (o *Options) fill() error {
	if o.BatchLines == 0 {
		o.BatchLines = DefaultBatchLines
	}
	if o.BatchLines < 1 || o.BatchLines > MaxBatchLines {
		return fmt.Errorf("cannot cut batches of %d lines: use 1 to %d", o.BatchLines, MaxBatchLines)
	}
	if o.Progress == "" {
		o.Progress = "auto"
	}
	switch o.Progress {
	case "auto", "bar", "lines", "none":
	default:
		return fmt.Errorf("cannot show progress as %q: use auto, bar, lines or none", o.Progress)
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 10 * time.Second
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	return nil
}

// Sender processes one batch and returns its summary. An error stops the
// run; the state file then holds the last acknowledged batch.
type Sender interface {
	Send(ctx context.Context, b *Batch) (sessionlog.Summary, error)
}

// Batch is a run of whole lines of one input.
type Batch struct {
	Format sessionlog.Format
	Body   []byte
	Lines  int
	// FirstLine is the line number of the first line in its input, from 1.
	FirstLine int
	// Start and End are the byte range in the (decompressed) input.
	Start, End int64
	// Name names the batch for the ledger, the same on every run and
	// every sender: the input's identity and the byte range. The HTTP
	// sender sends it as the Idempotency-Key.
	Name string
}

// BatchName names the batch of an input (by its identity) that spans
// bytes [start, end).
func BatchName(identity string, start, end int64) string {
	return "import/" + identity + "/" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10)
}

// totals add up the batches' summaries.
type totals struct {
	lines, accepted, rejected, duplicates int
	skipped                               map[string]int
	errors                                []string
	bytes                                 atomic.Int64 // input bytes read, as stored (compressed)
	size                                  int64        // known total of the inputs' sizes
	began                                 time.Time
}

const maxShownErrors = 20

func (t *totals) add(b *Batch, s sessionlog.Summary, input string) {
	if s.Duplicate {
		t.duplicates++
	}
	t.accepted += s.Accepted
	t.rejected += s.Rejected
	for k, v := range s.Skipped {
		t.skipped[k] += v
	}
	for _, e := range s.Errors {
		if len(t.errors) < maxShownErrors {
			t.errors = append(t.errors, fmt.Sprintf("%s:%d: %s", input, b.FirstLine+e.Line-1, e.Reason))
		}
	}
}

// Run imports every input in turn ("-" is stdin), in batches, resuming from
// the state file, and prints a summary to o.Stdout, also when it stops
// early. It returns the first error that stopped it: an input that cannot
// be read, a batch the sender gave up on, or ctx's error.
func Run(ctx context.Context, inputs []string, send Sender, o Options) error {
	if err := o.fill(); err != nil {
		return err
	}
	state, err := loadState(o.StatePath)
	if err != nil {
		return err
	}
	tot := &totals{skipped: map[string]int{}, began: time.Now()}
	for _, in := range inputs {
		if in != "-" {
			if fi, err := os.Stat(in); err == nil {
				tot.size += fi.Size()
			}
		}
	}
	prog := newProgress(&o, tot)
	defer prog.stop()
	for _, in := range inputs {
		if err := importInput(ctx, &o, in, state, send, tot, prog); err != nil {
			prog.stop()
			printSummary(o.Stdout, tot, false)
			return err
		}
	}
	prog.stop()
	printSummary(o.Stdout, tot, true)
	return nil
}

// countingReader counts the bytes read from the input as stored.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func importInput(ctx context.Context, o *Options, name string, state *importState, send Sender, tot *totals, prog *progress) error {
	var raw io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("cannot open %q: %w", name, err)
		}
		defer f.Close()
		raw = f
	}
	raw = countingReader{raw, &tot.bytes}
	br := bufio.NewReaderSize(raw, 256<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("cannot read %q as gzip: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	lr := bufio.NewReaderSize(r, 256<<10)
	// The input's identity: a hash of its first 64 KiB (decompressed), so
	// a renamed or rotated file is still recognised and another is not.
	head, _ := lr.Peek(64 << 10)
	if len(head) == 0 {
		return nil
	}
	sum := sha256.Sum256(head)
	identity := hex.EncodeToString(sum[:12])
	format := o.Format
	if format == 0 {
		format = sessionlog.FormatCombined
		if trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff"); len(trimmed) > 0 && trimmed[0] == '{' {
			format = sessionlog.FormatNDJSON
		}
	}
	key := name
	if name != "-" {
		if abs, err := filepath.Abs(name); err == nil {
			key = abs
		}
	}
	is := state.Inputs[key]
	if is == nil || is.Identity != identity {
		is = &inputState{Identity: identity}
		state.Inputs[key] = is
	}
	if is.Done {
		prog.note(fmt.Sprintf("%s: already imported (state %s)", name, o.StatePath))
		return nil
	}
	offset, line := is.Offset, is.Lines
	if offset > 0 {
		if _, err := io.CopyN(io.Discard, lr, offset); err != nil {
			return fmt.Errorf("cannot skip to the resume point of %q (offset %d): %w", name, offset, err)
		}
		prog.note(fmt.Sprintf("%s: resuming at line %d (byte %d)", name, line+1, offset))
	}
	// Read batches ahead while the previous one is being sent.
	// The reader goroutine reads lr, which wraps the gzip reader and the
	// file closed by the defers above: on every return path it must have
	// ended before they run. Deferred calls run last-in first-out, so this
	// one (cancel, drain, wait) runs before the closes.
	batches := make(chan *Batch, 2)
	readErr := make(chan error, 1)
	readerDone := make(chan struct{})
	rctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for range batches {
		}
		<-readerDone
	}()
	go func() {
		defer close(readerDone)
		defer close(batches)
		readErr <- readBatches(rctx, lr, format, o.BatchLines, offset, line, identity, batches)
	}()
	for b := range batches {
		s, err := send.Send(ctx, b)
		if err != nil {
			return fmt.Errorf("%s, lines %d-%d: %w", name, b.FirstLine, b.FirstLine+b.Lines-1, err)
		}
		tot.lines += b.Lines
		tot.add(b, s, name)
		is.Offset, is.Lines = b.End, b.FirstLine+b.Lines-1
		if err := state.save(o.StatePath); err != nil {
			return err
		}
		prog.update()
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("cannot read %q: %w", name, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	is.Done = true
	return state.save(o.StatePath)
}

// readBatches cuts the input into batches of whole lines. A line longer
// than sessionlog.MaxLine is sent cut short, so the server rejects it with
// its line number rather than the import stopping.
func readBatches(ctx context.Context, r *bufio.Reader, f sessionlog.Format, n int, offset int64, line int, identity string, out chan<- *Batch) error {
	for {
		b := &Batch{Format: f, Start: offset, FirstLine: line + 1}
		for b.Lines < n {
			chunk, err := r.ReadSlice('\n')
			offset += int64(len(chunk))
			long := false
			for errors.Is(err, bufio.ErrBufferFull) {
				if !long && len(chunk) > 0 {
					b.Body = append(b.Body, chunk[:min(len(chunk), sessionlog.MaxLine+1)]...)
				}
				long = true
				chunk, err = r.ReadSlice('\n')
				offset += int64(len(chunk))
			}
			if !long {
				b.Body = append(b.Body, chunk...)
			}
			if len(chunk) > 0 || long {
				b.Lines++
				if long || (len(chunk) > 0 && chunk[len(chunk)-1] != '\n') {
					b.Body = append(b.Body, '\n')
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		if b.Lines == 0 {
			return nil
		}
		b.End = offset
		b.Name = BatchName(identity, b.Start, b.End)
		line += b.Lines
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
		if b.Lines < n {
			return nil
		}
	}
}
