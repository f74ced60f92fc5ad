package weights

import (
	"fmt"
	"io"
	"os"
	"time"
)

const (
	hubProgressDelay    = 500 * time.Millisecond // quick downloads print nothing
	hubProgressInterval = 100 * time.Millisecond // at most ~10 redraws a second
)

// hubProgress is an io.Writer that counts downloaded bytes and redraws a one-line bar with
// \r. It is fed a copy of the body, so it never fails.
type hubProgress struct {
	w      io.Writer
	name   string
	total  int64 // bytes of the whole file; <= 0 when unknown
	offset int64 // bytes already on disk before this session (resume)
	done   int64 // bytes received in this session
	now    func() time.Time
	began  time.Time
	last   time.Time
	drawn  bool
}

// newHubProgress returns nil when w is nil or an *os.File that is not a terminal, so that
// redirected stderr gets no carriage-return garbage.
func newHubProgress(w io.Writer, name string, total, offset int64, now func() time.Time) *hubProgress {
	if w == nil {
		return nil
	}
	if f, ok := w.(*os.File); ok {
		fi, err := f.Stat()
		if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			return nil
		}
	}
	if now == nil {
		now = time.Now
	}
	return &hubProgress{w: w, name: name, total: total, offset: offset, now: now, began: now()}
}

func (p *hubProgress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	t := p.now()
	if t.Sub(p.began) >= hubProgressDelay && t.Sub(p.last) >= hubProgressInterval {
		p.draw(t)
	}
	return len(b), nil
}

// restart forgets the bytes counted so far, for a server that ignored the Range request.
func (p *hubProgress) restart() {
	p.offset, p.done = 0, 0
}

// finish ends the bar's line so that later output starts on a fresh line; it prints nothing
// if the bar was never drawn.
func (p *hubProgress) finish() {
	if p == nil || !p.drawn {
		return
	}
	p.draw(p.now())
	fmt.Fprintln(p.w)
}

// draw writes e.g. "\rmodel.safetensors  42.0%  210.0 MiB / 500.0 MiB  12.5 MiB/s  ETA 0:23".
func (p *hubProgress) draw(t time.Time) {
	p.last, p.drawn = t, true
	have := p.offset + p.done
	secs := t.Sub(p.began).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.done) / secs
	}
	line := p.name + "  "
	if p.total > 0 {
		line += fmt.Sprintf("%5.1f%%  %s / %s", 100*float64(have)/float64(p.total), hubBytes(float64(have)), hubBytes(float64(p.total)))
	} else {
		line += hubBytes(float64(have))
	}
	line += "  " + hubBytes(rate) + "/s"
	if p.total > 0 && rate > 0 && have < p.total {
		eta := int64(float64(p.total-have) / rate)
		line += fmt.Sprintf("  ETA %d:%02d", eta/60, eta%60)
	}
	fmt.Fprintf(p.w, "\r%-78s", line) // padding wipes a longer previous line
}

func hubBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
