package edit

import (
	"fmt"
	"math"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
	"github.com/mechlens/mechlens/lens"
)

// applyWeights writes a weight edit into m and returns its undo. Undo fetches the matrix
// again (a clone made in between may have taken the old one) and puts back the saved rows.
// A written weight past float32's range (a factor of 1e38 on a weight above 3.4) is an
// error, with the undo still to run: every output of the model would be NaN.
func (e Edit) applyWeights(m *gpt2.Model) (func(), error) {
	name, rows := e.target(m.Config)
	w := mustWritable(m, e.Layer, name)
	if e.Kind == KindRankOne {
		saved := w.Clone()
		w.AddOuter(e.U, e.V)
		return func() { mustWritable(m, e.Layer, name).CopyFrom(saved) }, e.checkWritten(w, nil, name)
	}
	saved := make([][]float32, len(rows))
	for i, r := range rows {
		saved[i] = make([]float32, w.N)
		w.Row(r, saved[i])
	}
	switch e.Kind {
	case KindValueVector:
		if e.Mode == "set" {
			w.SetRow(rows[0], e.Vector)
		} else {
			w.AddRow(rows[0], 1, e.Vector)
		}
	case KindScaleNeuron, KindScaleHead:
		for _, r := range rows {
			w.ScaleRow(r, float32(*e.Factor))
		}
	case KindProjectOut:
		d := unitCentered(e.Vector)
		row := make([]float32, w.N)
		for _, r := range rows {
			w.Row(r, row)
			var dot float64
			for j, x := range row {
				dot += float64(x) * d[j]
			}
			for j := range row {
				row[j] -= float32(dot * d[j])
			}
			w.SetRow(r, row)
		}
	}
	return func() {
		w := mustWritable(m, e.Layer, name)
		for i, r := range rows {
			w.SetRow(r, saved[i])
		}
	}, e.checkWritten(w, rows, name)
}

// checkWritten refuses rows of w (all when nil) holding ±Inf or NaN after the edit.
func (e Edit) checkWritten(w *tensor.Packed, rows []int, name string) error {
	row := make([]float32, w.N)
	for i := 0; i < w.K; i++ {
		r := i
		if rows != nil {
			if i >= len(rows) {
				break
			}
			r = rows[i]
		}
		w.Row(r, row)
		for _, x := range row {
			if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
				return fmt.Errorf("%s: the edit takes row %d of layer %d's %s past float32's range", e.Kind, r, e.Layer, name)
			}
		}
	}
	return nil
}

// target is the matrix a weight edit writes and the rows it touches (nil: all, rank_one).
func (e Edit) target(c gpt2.Config) (string, []int) {
	switch {
	case e.Kind == KindRankOne:
		return e.Matrix, nil
	case e.Head != nil:
		rows := make([]int, c.DHead)
		for i := range rows {
			rows[i] = *e.Head*c.DHead + i
		}
		return gpt2.MatrixWO, rows
	}
	return gpt2.MatrixWOut, e.Neurons
}

func mustWritable(m *gpt2.Model, l int, name string) *tensor.Packed {
	w, err := m.WritableMatrix(l, name)
	if err != nil {
		panic("edit: " + err.Error()) // validate checked the layer and the name
	}
	return w
}

// unitCentered returns d with its mean removed, normalized (float64). Centering is free
// for what reaches a layer norm, and it makes project_out give the same function on raw
// and on center_writing_weights-processed weights.
func unitCentered(v []float32) []float64 {
	d := make([]float64, len(v))
	var mean float64
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	var n float64
	for i, x := range v {
		d[i] = float64(x) - mean
		n += d[i] * d[i]
	}
	if n = math.Sqrt(n); n > 0 {
		for i := range d {
			d[i] /= n
		}
	}
	return d
}

// hooks builds a run-time intervention's hooks.
func (e Edit) hooks(m *gpt2.Model) []gpt2.Hook {
	switch e.Kind {
	case KindSteer:
		if e.Gate != nil {
			return e.gatedSteerHooks()
		}
		return []gpt2.Hook{{Name: e.Hook, Fn: func(a gpt2.Activation) { e.steer(a, e.Alpha) }}}
	case KindAblate:
		return []gpt2.Hook{{Name: e.Hook, Fn: func(a gpt2.Activation) {
			var mean []float64
			if e.Mode == "mean" {
				n := 0
				forRows(a, e.Head, nil, func(row []float32) {
					if mean == nil {
						mean = make([]float64, len(row))
					}
					for j, x := range row {
						mean[j] += float64(x)
					}
					n++
				})
				for j := range mean {
					mean[j] /= float64(n)
				}
			}
			forRows(a, e.Head, e.Positions, func(row []float32) {
				for j := range row {
					if mean == nil {
						row[j] = 0
					} else {
						row[j] = float32(mean[j])
					}
				}
			})
		}}}
	case KindClamp:
		return e.clampHooks()
	case KindAttention:
		an := lens.New(m)
		return []gpt2.Hook{{Name: gpt2.Pattern(e.Layer), Fn: func(a gpt2.Activation) { e.recalibrate(an, a) }}}
	}
	return nil
}

// steer adds alpha·Vector at the steer's positions.
func (e Edit) steer(a gpt2.Activation, alpha float64) {
	forRows(a, e.Head, e.Positions, func(row []float32) {
		for j := range row {
			row[j] += float32(alpha) * e.Vector[j]
		}
	})
}

// forRows calls f on each position's vector of an activation (one head's part of it when
// head is set), at positions (all when empty; negative from the end; outside the sequence
// ignored). [T, …] activations have a vector per position; [H, T, Tk] patterns and scores
// a row per query position.
func forRows(a gpt2.Activation, head *int, positions []int, f func(row []float32)) {
	var T, w, stride, off int
	if isPattern(a.Name) { // [H, T, Tk]
		T, w = a.Shape[1], a.Shape[2]
		stride = w
		if head != nil {
			off = *head * T * w
		}
	} else {
		T = a.Shape[0]
		stride = len(a.Data) / max(T, 1)
		w = stride
		if head != nil && len(a.Shape) == 3 { // [T, H, Dh] or [T, H, D]
			w = a.Shape[2]
			off = *head * w
		}
	}
	do := func(t int) { f(a.Data[off+t*stride : off+t*stride+w]) }
	if len(positions) == 0 {
		for t := range T {
			do(t)
		}
		return
	}
	for _, p := range positions {
		if p < 0 {
			p += T
		}
		if p >= 0 && p < T {
			do(p)
		}
	}
}

func isPattern(name string) bool {
	return strings.HasSuffix(name, "attn.hook_pattern") || strings.HasSuffix(name, "attn.hook_attn_scores")
}

// recalibrate changes one head's attention at the query position: the chosen keys' weights
// are scaled (or the first two swapped), then the row is renormalized to sum to one.
func (e Edit) recalibrate(an *lens.Analyzer, a gpt2.Activation) {
	T, Tk := a.Shape[1], a.Shape[2]
	q := -1
	if e.Query != nil {
		q = *e.Query
	}
	if q < 0 {
		q += T
	}
	if q < 0 || q >= T {
		return
	}
	row := a.Data[(*e.Head*T+q)*Tk : (*e.Head*T+q+1)*Tk]
	var keys []int
	if e.Letters {
		marker := e.Marker
		if marker == "" {
			marker = lens.DefaultMarker
		}
		opts, err := an.FindOptions(a.IDs, marker)
		if err != nil {
			return // not a multiple-choice prompt: nothing to recalibrate
		}
		for _, o := range opts {
			keys = append(keys, o.Pos+Tk-T)
		}
	} else {
		for _, k := range e.Positions {
			if k < 0 {
				k += Tk
			}
			if k >= 0 && k < Tk {
				keys = append(keys, k)
			}
		}
	}
	switch {
	case e.Mode == "swap" && len(keys) >= 2:
		row[keys[0]], row[keys[1]] = row[keys[1]], row[keys[0]]
	case e.Mode == "scale":
		for _, k := range keys {
			row[k] *= float32(*e.Factor)
		}
	}
	var sum float64
	for _, x := range row {
		sum += float64(x)
	}
	if sum > 0 {
		for k := range row {
			row[k] = float32(float64(row[k]) / sum)
		}
	}
}
