package debias

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/mechlens/mechlens/internal/fsutil"
)

// series is one set of bars of a grouped bar chart, with optional intervals (NaN: none).
type series struct {
	name   string
	vals   []float64
	lo, hi []float64
	col    color.Color
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

func num(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// barPlot draws one bar per label and series, side by side, with intervals, and a dashed
// reference line at ref unless it is NaN.
func barPlot(title, ylabel string, labels []string, ss []series, ref float64, refName string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.6, float64(len(labels))-0.4
	width := vg.Points(math.Min(30, 300/float64(len(labels)*len(ss))))
	for i, s := range ss {
		dx := (float64(i) - float64(len(ss)-1)/2) * 0.8 / float64(len(ss))
		vals := make(plotter.Values, len(s.vals))
		pts := make(plotter.XYs, len(s.vals))
		errs := make(plotter.YErrors, len(s.vals))
		for k, v := range s.vals {
			vals[k] = num(v)
			pts[k] = plotter.XY{X: float64(k) + dx, Y: num(v)}
			if s.lo != nil && !math.IsNaN(s.lo[k]) {
				errs[k].Low, errs[k].High = num(v)-num(s.lo[k]), num(s.hi[k])-num(v)
			}
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("debias: plot: %w", err)
		}
		bars.XMin = dx
		bars.Color = s.col
		if s.col == nil {
			bars.Color = palette[i%len(palette)]
		}
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(s.name, bars)
		if s.lo != nil {
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{pts, errs})
			if err != nil {
				return nil, fmt.Errorf("debias: plot: %w", err)
			}
			p.Add(eb)
		}
	}
	if !math.IsNaN(ref) {
		l, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: ref}, {X: p.X.Max, Y: ref}})
		if err != nil {
			return nil, fmt.Errorf("debias: plot: %w", err)
		}
		l.Color = color.Gray{Y: 0x80}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(refName, l)
	}
	p.Legend.Top = true
	return p, nil
}

// savePNG writes a plot of w×h inches atomically.
func savePNG(path string, p *plot.Plot, w, h vg.Length) error {
	wt, err := p.WriterTo(w*vg.Inch, h*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("debias: %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, func(out io.Writer) error { _, err := wt.WriteTo(out); return err })
}

// WriteTracePlot draws every head's and MLP's mean direct effect on logit(anchor) − mean
// logit(other options), on correct and incorrect items, its patching effect and the part of
// it that goes through later layers.
func WriteTracePlot(path string, tr *TraceResult) error {
	var labels []string
	ss := []series{{name: "direct, answered correctly"}, {name: "direct, answered wrongly"}, {name: "patched from known items"}, {name: "patched, path through later layers"}}
	for i := range ss {
		ss[i].lo, ss[i].hi = []float64{}, []float64{}
	}
	for _, c := range tr.Components {
		labels = append(labels, c.Name)
		for i, st := range []Stat{c.Correct, c.Incorrect} {
			ss[i].vals = append(ss[i].vals, st.Mean)
			ss[i].lo, ss[i].hi = append(ss[i].lo, st.Lo), append(ss[i].hi, st.Hi)
		}
		for i, st := range []*Stat{c.Patch, c.PathLater} {
			p := Stat{Mean: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
			if st != nil {
				p = *st
			}
			ss[2+i].vals = append(ss[2+i].vals, p.Mean)
			ss[2+i].lo, ss[2+i].hi = append(ss[2+i].lo, p.Lo), append(ss[2+i].hi, p.Hi)
		}
	}
	p, err := barPlot(fmt.Sprintf("Where logit(%s) − mean logit(other options) comes from", tr.Anchor.Text),
		"logits (mean, 95% CI)", labels, ss, 0, "no effect")
	if err != nil {
		return err
	}
	return savePNG(path, p, vg.Length(max(6, float64(len(labels))*0.6)), 4)
}
