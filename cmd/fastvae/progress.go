package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress draws a one-line progress bar on a terminal, redrawn in place at
// most ten times a second. Log lines go through its logf, which clears the
// bar first so the two never mix on a shared terminal.
type progress struct {
	w      io.Writer // stderr, or nil when the bar is off
	log    io.Writer // stdout
	shown  bool
	last   time.Time
	prefix string
	value  string // what update's value is: "loss", "NLL"
	start  time.Time
	done0  int // images done when this epoch's timing started
	total  int
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newProgress(mode string, stdout, stderr io.Writer) *progress {
	p := &progress{log: stdout}
	if mode == "on" || (mode == "auto" && isTerminal(stderr)) {
		p.w = stderr
	}
	return p
}

// begin starts a pass (an epoch, an evaluation) over total images, of
// which done are done already (a resumed pass); value names what update
// shows beside the bar.
func (p *progress) begin(prefix, value string, done, total int) {
	p.prefix, p.value, p.total, p.done0, p.start, p.last = prefix, value, total, done, time.Now(), time.Time{}
}

// update redraws the bar for done images and the latest value (a batch's
// loss, the running mean NLL).
func (p *progress) update(done int, value float64) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if done < p.total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	frac := float64(done) / float64(max(p.total, 1))
	fill := int(frac * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	if fill < width {
		bar = bar[:fill] + ">" + bar[fill+1:]
	}
	rate, eta := 0.0, "?"
	if el := now.Sub(p.start).Seconds(); el > 0 && done > p.done0 {
		rate = float64(done-p.done0) / el
		eta = time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\033[K%s [%s] %3.0f%% %d/%d  %.0f images/s  ETA %s  %s %.2f",
		p.prefix, bar, 100*frac, done, p.total, rate, eta, p.value, value)
	p.shown = true
}

// clear removes the bar, if drawn.
func (p *progress) clear() {
	if p.w != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

// logf writes a log line to stdout, clearing the bar first.
func (p *progress) logf(format string, args ...any) {
	p.clear()
	fmt.Fprintf(p.log, format+"\n", args...)
}
