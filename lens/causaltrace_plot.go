package lens

import (
	"fmt"
	"image/color"
	"image/png"
	"io"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/mechlens/mechlens/internal/fsutil"
)

// traceGrid is one panel as a heat map: x the layer, y the position (the first token at
// the top, as in the paper's figure).
type traceGrid struct{ s [][]float64 }

func (g traceGrid) Dims() (c, r int)   { return len(g.s[0]), len(g.s) }
func (g traceGrid) Z(c, r int) float64 { return g.s[len(g.s)-1-r][c] }
func (g traceGrid) X(c int) float64    { return float64(c) }
func (g traceGrid) Y(r int) float64    { return float64(r) }

// tracePalette runs from white to each kind's colour, as ROME's figure does (purples for
// the hidden state, greens for MLPs, reds for attention).
func tracePalette(kind string) palette.Palette {
	end := map[string]color.RGBA{TraceHidden: {0x54, 0x27, 0x8f, 0xff}, TraceMLP: {0x00, 0x6d, 0x2c, 0xff}, TraceAttn: {0xa5, 0x0f, 0x15, 0xff}}[kind]
	const n = 64
	cs := make([]color.Color, n)
	for i := range cs {
		f := float64(i) / (n - 1)
		mix := func(a uint8) uint8 { return uint8(255 + f*(float64(a)-255)) }
		cs[i] = color.RGBA{mix(end.R), mix(end.G), mix(end.B), 0xff}
	}
	return colorList(cs)
}

type colorList []color.Color

func (c colorList) Colors() []color.Color { return c }

// WritePNG draws the trace's panels side by side (positions × layers, the subject's tokens
// marked with "*"), each on the scale from the corrupted baseline to its own maximum, and
// writes them to path atomically.
func (ct *CausalTrace) WritePNG(path string, tokens []Token) error {
	if len(ct.Panels) == 0 || len(tokens) == 0 {
		return fmt.Errorf("lens: nothing to plot")
	}
	labels := make([]plot.Tick, len(tokens))
	for t, tok := range tokens {
		l := strconv.Quote(tok.Text)
		if t >= ct.SubjectStart && t < ct.SubjectEnd {
			l += "*"
		}
		labels[t] = plot.Tick{Value: float64(len(tokens) - 1 - t), Label: l}
	}
	titles := map[string]string{TraceHidden: "single restored layer", TraceMLP: "restored MLP", TraceAttn: "restored attention"}
	var plots []*plot.Plot
	for _, pn := range ct.Panels {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s (window %d)", titles[pn.Kind], ct.Window)
		if pn.Kind == TraceHidden {
			p.Title.Text = titles[pn.Kind]
		}
		hi := ct.Corrupt
		for _, row := range pn.Scores {
			for _, v := range row {
				hi = max(hi, v)
			}
		}
		p.X.Label.Text = fmt.Sprintf("layer (white %.3g, darkest %.3g = P(%q))", ct.Corrupt, hi, ct.Target.Text)
		hm := plotter.NewHeatMap(traceGrid{pn.Scores}, tracePalette(pn.Kind))
		hm.Min, hm.Max = ct.Corrupt, max(hi, ct.Corrupt+1e-9)
		p.Add(hm)
		p.Y.Tick.Marker = plot.ConstantTicks(labels)
		L := len(pn.Scores[0])
		step := max(1, L/8)
		var xt []plot.Tick
		for l := 0; l < L; l += step {
			xt = append(xt, plot.Tick{Value: float64(l), Label: strconv.Itoa(l)})
		}
		p.X.Tick.Marker = plot.ConstantTicks(xt)
		plots = append(plots, p)
	}
	w, h := vg.Length(len(plots))*3.6*vg.Inch, vg.Length(1.2+0.28*float64(len(tokens)))*vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}
	cs := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(cs[0][i])
	}
	return fsutil.WriteFileAtomic(path, func(out io.Writer) error { return png.Encode(out, img.Image()) })
}
