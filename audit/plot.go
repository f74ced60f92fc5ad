package audit

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/mechlens/mechlens/internal/fsutil"
)

var (
	colVocab   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colLetters = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colChance  = color.RGBA{R: 0x80, G: 0x80, B: 0x80, A: 0xff}
)

func writePlots(f Files, s *Summary) error {
	labs := s.labels()
	sel, err := barsPlot("Selection rate by position", "share of trials answered", labs,
		s.Vocab.Selection, s.Letters.Selection, float64(s.Vocab.ATest.Chance))
	if err != nil {
		return err
	}
	if err := savePNG(f.Selection, sel); err != nil {
		return err
	}
	acc, err := barsPlot("Accuracy by position of the correct answer", "accuracy", labs,
		s.Vocab.AccuracyByPosition, s.Letters.AccuracyByPosition, math.NaN())
	if err != nil {
		return err
	}
	if err := savePNG(f.Accuracy, acc); err != nil {
		return err
	}
	lens, err := lensPlot(s.Lens)
	if err != nil {
		return err
	}
	return savePNG(f.Lens, lens)
}

func savePNG(path string, p *plot.Plot) error {
	wt, err := p.WriterTo(6*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("audit: %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, func(w io.Writer) error { _, err := wt.WriteTo(w); return err })
}

// finite replaces what is not a number by 0 (a bar over no trials is drawn empty).
func finite(x Num) float64 {
	if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
		return 0
	}
	return float64(x)
}

// barsPlot draws one pair of bars per position (whole-vocabulary rule, letters only) with
// their 95% intervals, and a chance line when chance is a number.
func barsPlot(title, ylabel string, labs []string, vocab, letters []Estimate, chance float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Min, p.Y.Max = 0, 1.25 // headroom for the legend
	p.Y.Tick.Marker = plot.ConstantTicks(ticks(0, 1, 0.25))
	p.X.Min, p.X.Max = -0.6, float64(len(labs))-0.4
	p.NominalX(labs...)
	width := vg.Points(math.Min(40, 240/float64(len(labs))))
	for _, series := range []struct {
		name string
		est  []Estimate
		col  color.Color
		dx   float64
	}{{"whole vocabulary", vocab, colVocab, -0.2}, {"letters only", letters, colLetters, 0.2}} {
		vals := make(plotter.Values, len(series.est))
		pts := make(plotter.XYs, len(series.est))
		errs := make(plotter.YErrors, len(series.est))
		for k, e := range series.est {
			v := finite(e.Value)
			vals[k] = v
			pts[k] = plotter.XY{X: float64(k) + series.dx, Y: v}
			if !math.IsNaN(float64(e.Lo)) {
				errs[k].Low, errs[k].High = v-finite(e.Lo), finite(e.Hi)-v
			}
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("audit: plot: %w", err)
		}
		bars.XMin = series.dx
		bars.Color = series.col
		bars.LineStyle.Width = 0
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{pts, errs})
		if err != nil {
			return nil, fmt.Errorf("audit: plot: %w", err)
		}
		p.Add(bars, eb)
		p.Legend.Add(series.name, bars)
	}
	if !math.IsNaN(chance) {
		l, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: chance}, {X: p.X.Max, Y: chance}})
		if err != nil {
			return nil, fmt.Errorf("audit: plot: %w", err)
		}
		l.Color = colChance
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add("chance", l)
	}
	p.Legend.Top = true
	return p, nil
}

// lensPlot draws the mean logit(A) − logit(correct) after each block with its interval.
func lensPlot(lens []Estimate) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Logit lens: logit(A) - logit(correct) after each block"
	p.X.Label.Text = "layer"
	p.Y.Label.Text = "mean logit difference"
	mean := make(plotter.XYs, 0, len(lens))
	lo := make(plotter.XYs, 0, len(lens))
	hi := make(plotter.XYs, 0, len(lens))
	for l, e := range lens {
		if math.IsNaN(float64(e.Value)) {
			continue
		}
		mean = append(mean, plotter.XY{X: float64(l), Y: float64(e.Value)})
		if !math.IsNaN(float64(e.Lo)) {
			lo = append(lo, plotter.XY{X: float64(l), Y: float64(e.Lo)})
			hi = append(hi, plotter.XY{X: float64(l), Y: float64(e.Hi)})
		}
	}
	zero, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: math.Max(1, float64(len(lens)-1)), Y: 0}})
	if err != nil {
		return nil, fmt.Errorf("audit: plot: %w", err)
	}
	zero.Color = colChance
	p.Add(zero)
	if len(mean) == 0 {
		return p, nil // no trial has an answer other than A
	}
	if len(lo) > 0 {
		for _, band := range []plotter.XYs{lo, hi} {
			b, err := plotter.NewLine(band)
			if err != nil {
				return nil, fmt.Errorf("audit: plot: %w", err)
			}
			b.Color = colVocab
			b.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(b)
		}
	}
	line, pts, err := plotter.NewLinePoints(mean)
	if err != nil {
		return nil, fmt.Errorf("audit: plot: %w", err)
	}
	line.Color = colVocab
	line.Width = vg.Points(2)
	pts.Color = colVocab
	pts.Shape = draw.CircleGlyph{}
	p.Add(line, pts)
	p.Legend.Add("mean over trials whose answer is not A", line)
	if len(lo) > 0 {
		p.Legend.Add("95% interval", dashed(colVocab))
	}
	p.Legend.Top = true
	p.Legend.Left = true
	// Headroom for the legend, and a tick per layer (every few layers on deep models).
	ymin, ymax := 0.0, 0.0
	for _, xy := range append(append(append(plotter.XYs{}, mean...), lo...), hi...) {
		ymin, ymax = math.Min(ymin, xy.Y), math.Max(ymax, xy.Y)
	}
	p.Y.Min, p.Y.Max = ymin-0.05*(ymax-ymin), ymax+0.3*(ymax-ymin)
	step := math.Max(1, math.Ceil(float64(len(lens))/12))
	p.X.Tick.Marker = plot.ConstantTicks(ticks(0, float64(len(lens)-1), step))
	return p, nil
}

func dashed(c color.Color) plot.Thumbnailer {
	l := &plotter.Line{}
	l.LineStyle = plotter.DefaultLineStyle
	l.Color = c
	l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	return l
}

// ticks labels lo, lo+step, ... up to hi.
func ticks(lo, hi, step float64) []plot.Tick {
	var t []plot.Tick
	for x := lo; x <= hi+1e-9; x += step {
		t = append(t, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'g', -1, 64)})
	}
	return t
}
