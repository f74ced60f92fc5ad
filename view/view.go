package view

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/lens"
)

// Quote shows a token so that its spaces and newlines are visible in a table.
func Quote(s string) string { return strconv.Quote(s) }

// Blank shows −1 (no layer, head or position) as an empty cell.
func Blank(i int) string {
	if i < 0 {
		return ""
	}
	return strconv.Itoa(i)
}

// NoHeat returns the heat of n cells left unshaded.
func NoHeat(n int) []float64 {
	h := make([]float64, n)
	for i := range h {
		h[i] = math.NaN()
	}
	return h
}

// PointLabel names a residual-stream point in tables: "3 pre", "3 mid", "final".
func PointLabel(point string, c gpt2.Config) string {
	if point == gpt2.ResidPost(c.NLayers-1) {
		return "final"
	}
	for l := range c.NLayers {
		switch point {
		case gpt2.ResidPre(l):
			return fmt.Sprintf("%d pre", l)
		case gpt2.ResidMid(l):
			return fmt.Sprintf("%d mid", l)
		}
	}
	return point
}

// LensRows is the table of a logit lens: a row per point and position with its top tokens,
// then each target's logit, probability (shaded) and rank, the entropy and the KL divergence.
// tokens are the prompt's tokens and targets the followed tokens, in the lens's order. A
// table packs the top tokens into one column; csv gives each token and probability a cell of
// its own.
func LensRows(ll *lens.LogitLens, c gpt2.Config, tokens []lens.Token, targets []lens.Token, csv bool) *cli.Rows {
	header := []string{"layer", "pos", "input", "top"}
	if csv {
		header = header[:3]
		for i := range len(ll.Rows[0].Top) {
			header = append(header, fmt.Sprintf("top%d", i+1), fmt.Sprintf("top%d prob", i+1))
		}
	}
	for _, t := range targets {
		q := Quote(t.Text)
		header = append(header, q+" logit", q+" prob", q+" rank")
	}
	rows := &cli.Rows{Header: append(header, "entropy", "kl")}
	for _, r := range ll.Rows {
		cells := []any{PointLabel(r.Point, c), r.Pos, cli.Token(tokens[r.Pos].Text)}
		if csv {
			for _, tp := range r.Top {
				cells = append(cells, cli.Token(tp.Text), tp.Prob)
			}
		} else {
			tops := make([]string, len(r.Top))
			for i, tp := range r.Top {
				tops[i] = fmt.Sprintf("%s %.3g", Quote(tp.Text), tp.Prob)
			}
			cells = append(cells, strings.Join(tops, "  "))
		}
		heat := NoHeat(len(cells))
		for _, t := range r.Targets {
			cells = append(cells, t.Logit, t.Prob, t.Rank)
			heat = append(heat, math.NaN(), t.Prob, math.NaN())
		}
		rows.Add(append(cells, r.Entropy, r.KL)...)
		rows.Heat = append(rows.Heat, append(heat, math.NaN(), math.NaN()))
	}
	return rows
}

// PartRows is the table of a direct logit attribution; sorted (or top > 0) orders the parts
// by decreasing |value| and top > 0 keeps that many.
func PartRows(at *lens.Attribution, sorted bool, top int) *cli.Rows {
	parts := SortParts(at.Parts, sorted || top > 0)
	if top > 0 && top < len(parts) {
		parts = parts[:top]
	}
	rows := &cli.Rows{Header: []string{"part", "kind", "layer", "head", "value"}}
	for _, p := range parts {
		rows.Add(p.Name, p.Kind, Blank(p.Layer), Blank(p.Head), p.Value)
		rows.Heat = append(rows.Heat, append(NoHeat(4), p.Value))
	}
	return rows
}

// NeuronRows is the table of a neuron attribution: promoters, then suppressors.
func NeuronRows(na *lens.NeuronAttribution) *cli.Rows {
	rows := &cli.Rows{Header: []string{"side", "rank", "neuron", "activation", "effect", "contribution"}}
	for _, side := range []struct {
		name string
		list []lens.NeuronContribution
	}{{"promoter", na.Promoters}, {"suppressor", na.Suppressors}} {
		for i, n := range side.list {
			rows.Add(side.name, i+1, cli.Neuron{Layer: n.Layer, Index: n.Neuron}, n.Activation, n.Effect, n.Contribution)
			rows.Heat = append(rows.Heat, append(NoHeat(5), n.Contribution))
		}
	}
	return rows
}

// PatternRows is one head's attention from its query position, a row per key.
func PatternRows(p *lens.HeadPattern) *cli.Rows {
	rows := &cli.Rows{Header: []string{"pos", "token", "weight"}}
	for _, k := range p.Keys {
		rows.Add(k.Pos, cli.Token(k.Token.Text), k.Weight)
		rows.Heat = append(rows.Heat, append(NoHeat(2), k.Weight))
	}
	return rows
}

// OptionRows is every head's attention to the answer options' letters.
func OptionRows(options []lens.Option, oa *lens.OptionAttention) *cli.Rows {
	header := []string{"head"}
	for _, o := range options {
		header = append(header, fmt.Sprintf("%s@%d", o.Letter, o.Pos))
	}
	rows := &cli.Rows{Header: header}
	for _, h := range oa.Heads {
		cells := []any{fmt.Sprintf("L%dH%d", h.Layer, h.Head)}
		heat := NoHeat(1)
		for _, w := range h.Weights {
			cells = append(cells, w)
			heat = append(heat, w)
		}
		rows.Add(cells...)
		rows.Heat = append(rows.Heat, heat)
	}
	return rows
}

// ValueVectorRows is a value vector's top and bottom tokens, raw and through the lens.
func ValueVectorRows(vv *lens.ValueVector) *cli.Rows {
	rows := &cli.Rows{Header: []string{"rank", "top", "top logit", "bottom", "bottom logit", "lens top", "lens top value", "lens bottom", "lens bottom value"}}
	for i := range vv.Top {
		rows.Add(i+1, cli.Token(vv.Top[i].Text), vv.Top[i].Score, cli.Token(vv.Bottom[i].Text), vv.Bottom[i].Score,
			cli.Token(vv.LensTop[i].Text), vv.LensTop[i].Score, cli.Token(vv.LensBottom[i].Text), vv.LensBottom[i].Score)
	}
	return rows
}

// PromoterRows is the reverse search's value vectors, best first.
func PromoterRows(ps *lens.PromoterSearch) *cli.Rows {
	rows := &cli.Rows{Header: []string{"rank", "neuron", "logit", "lens"}}
	for i, p := range ps.Neurons {
		rows.Add(i+1, cli.Neuron{Layer: p.Layer, Index: p.Neuron}, p.Logit, p.Lens)
	}
	return rows
}

// ScanRows is the table of the anchored-bias paper's scan: per layer its MLP lens and top
// neurons, then the heads with the largest gaps.
func ScanRows(sc *lens.Scan, heads int) *cli.Rows {
	rows := &cli.Rows{Header: []string{"part", "unit", "activation", "score", "anchor", "correct", "gap", "flag", "words"}}
	add := func(part string, unit, act, score any, anchor, correct, gap float64, flag string, words cli.Tokens) {
		rows.Add(part, unit, act, score, anchor, correct, gap, flag, words)
		rows.Heat = append(rows.Heat, append(NoHeat(6), gap, math.NaN(), math.NaN()))
	}
	for _, l := range sc.Layers {
		add(fmt.Sprintf("L%d.mlp", l.Layer), "", "", "", l.Anchor, l.Correct, l.Diff, "", nil)
		for _, n := range l.Neurons {
			flag := ""
			if n.Flagged {
				flag = "*"
			}
			ws := make(cli.Tokens, len(n.Words))
			for i, w := range n.Words {
				ws[i] = w.Text
			}
			add("neuron", cli.Neuron{Layer: l.Layer, Index: n.Neuron}, n.Activation, n.Score, n.Anchor, n.Correct, n.Diff, flag, ws)
		}
	}
	for _, h := range sc.Heads[:min(heads, len(sc.Heads))] {
		add("head", fmt.Sprintf("L%dH%d", h.Layer, h.Head), "", "", h.Anchor, h.Correct, h.Diff, "", nil)
	}
	return rows
}

// SortParts returns the parts, by decreasing |value| when sorted (ties keep model order).
func SortParts(parts []lens.Part, sorted bool) []lens.Part {
	out := slices.Clone(parts)
	if sorted {
		slices.SortStableFunc(out, func(x, y lens.Part) int { return cmp.Compare(math.Abs(y.Value), math.Abs(x.Value)) })
	}
	return out
}
