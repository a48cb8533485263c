package importer

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// progress shows how an import goes: a bar redrawn in place on a terminal
// (lines/s, bytes, ETA when the inputs' sizes are known), plain periodic
// lines otherwise (logs, CI). It is driven by the import loop, after each
// batch, so it needs no goroutine of its own.
type progress struct {
	w        io.Writer
	mode     string // "bar", "lines" or "none"
	every    time.Duration
	t        *totals
	last     time.Time
	drawn    bool
	finished bool
}

func newProgress(o *Options, t *totals) *progress {
	w := o.Stderr
	mode := o.Progress
	if mode == "auto" {
		mode = "lines"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				mode = "bar"
			}
		}
	}
	return &progress{w: w, mode: mode, every: o.ProgressInterval, t: t, last: time.Now()}
}

// note prints a message on its own line.
func (p *progress) note(msg string) {
	if p.mode == "none" {
		return
	}
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	fmt.Fprintln(p.w, "sezim import: "+msg)
}

func (p *progress) update() {
	now := time.Now()
	switch p.mode {
	case "bar":
		if now.Sub(p.last) < 200*time.Millisecond {
			return
		}
		fmt.Fprint(p.w, "\r\033[K"+p.line(now))
		p.drawn = true
	case "lines":
		if now.Sub(p.last) < p.every {
			return
		}
		fmt.Fprintln(p.w, "sezim import: "+p.line(now))
	default:
		return
	}
	p.last = now
}

// line is the progress text: percentage and ETA only when the total size
// is known (files, not stdin).
func (p *progress) line(now time.Time) string {
	el := now.Sub(p.t.began).Seconds()
	read := p.t.bytes.Load()
	rate := float64(p.t.lines) / max(el, 1e-9)
	s := fmt.Sprintf("%d lines, %.0f lines/s, %s", p.t.lines, rate, humanBytes(read))
	if p.t.size > 0 && read > 0 {
		frac := min(float64(read)/float64(p.t.size), 1)
		const width = 24
		fill := int(frac * width)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < fill {
				bar[i] = '#'
			}
		}
		eta := time.Duration(el/frac*(1-frac)) * time.Second
		s = fmt.Sprintf("[%s] %3.0f%% %s of %s, %d lines, %.0f lines/s, ETA %s",
			bar, frac*100, humanBytes(read), humanBytes(p.t.size), p.t.lines, rate, eta.Round(time.Second))
	}
	return s
}

// stop ends the bar's line.
func (p *progress) stop() {
	if p.finished {
		return
	}
	p.finished = true
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// printSummary writes the run's outcome.
func printSummary(w io.Writer, t *totals, complete bool) {
	took := time.Since(t.began)
	rate := float64(t.lines) / max(took.Seconds(), 1e-9)
	state := "done"
	if !complete {
		state = "stopped (run the same command again to resume)"
	}
	fmt.Fprintf(w, "import %s: %d lines in %s (%.0f lines/s, %s read)\n", state, t.lines, took.Round(time.Millisecond), rate, humanBytes(t.bytes.Load()))
	skipped := 0
	keys := make([]string, 0, len(t.skipped))
	for k, v := range t.skipped {
		skipped += v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, t.skipped[k]))
	}
	fmt.Fprintf(w, "  accepted %d, skipped %d", t.accepted, skipped)
	if len(parts) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, ", rejected %d", t.rejected)
	if t.duplicates > 0 {
		fmt.Fprintf(w, ", %d batch(es) already counted before", t.duplicates)
	}
	fmt.Fprintln(w)
	for _, e := range t.errors {
		fmt.Fprintf(w, "  rejected %s\n", e)
	}
	if t.rejected > len(t.errors) && len(t.errors) > 0 {
		fmt.Fprintf(w, "  … and %d more rejected lines\n", t.rejected-len(t.errors))
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
