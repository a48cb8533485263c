package main

import (
	"fmt"
	"io"
	"os"
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

func newProgress(o *importOptions, w io.Writer, t *totals) *progress {
	mode := o.progress
	if mode == "auto" {
		mode = "lines"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				mode = "bar"
			}
		}
	}
	return &progress{w: w, mode: mode, every: o.progressInt, t: t, last: time.Now()}
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
