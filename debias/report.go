package debias

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot/vg"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/internal/fsutil"
)

// Report is everything neutralize writes: the fit split's trace, the search, the eval
// split before and after the chosen edits, and the side effects.
type Report struct {
	Model      string       `json:"model"`
	Processing []string     `json:"processing"`
	Data       string       `json:"data"`
	FitItems   int          `json:"fit_items"`
	EvalItems  int          `json:"eval_items"`
	Trace      *TraceResult `json:"trace"`
	Search     *Search      `json:"search"`
	Before     *Measured    `json:"before"`
	After      *Measured    `json:"after"`
	// CyclicBefore and CyclicAfter are the eval split in every rotation of its options:
	// they tell the anchor's pull from answers that follow an option's content.
	CyclicBefore *Measured    `json:"cyclic_before,omitempty"`
	CyclicAfter  *Measured    `json:"cyclic_after,omitempty"`
	Side         *SideEffects `json:"side_effects"`
	Edits        []string     `json:"edits"` // the chosen set, one line per edit
}

// The files WriteReport writes in its folder (besides edits.json, which the caller saves).
const (
	FileReport     = "report.md"
	FileTrace      = "trace.png"
	FileGroups     = "before_after.png"
	FileAccuracy   = "accuracy_by_position.png"
	FileCandidates = "candidates.png"
)

// WriteReport writes report.md and the PNGs into dir.
func WriteReport(dir string, r *Report) error {
	if err := WriteTracePlot(filepath.Join(dir, FileTrace), r.Trace); err != nil {
		return err
	}
	if err := r.groupPlot(filepath.Join(dir, FileGroups)); err != nil {
		return err
	}
	if err := r.accuracyPlot(filepath.Join(dir, FileAccuracy)); err != nil {
		return err
	}
	if err := r.candidatePlot(filepath.Join(dir, FileCandidates)); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, FileReport), r.writeMarkdown)
}

// groupRows pairs each group's before and after metrics, pooled rows last.
func groupRows(b, a *Measured) (names []string, before, after []*audit.GroupMetrics) {
	for i := range b.Groups {
		names = append(names, b.Groups[i].Group)
		before = append(before, &b.Groups[i])
		after = append(after, &a.Groups[i])
	}
	if b.Fallback != nil {
		names, before, after = append(names, "fallback (pooled)"), append(before, b.Fallback), append(after, a.Fallback)
	}
	if b.Kept != nil {
		names, before, after = append(names, "kept (pooled)"), append(before, b.Kept), append(after, a.Kept)
	}
	if len(names) == 0 {
		all := func(m *Measured) *audit.GroupMetrics {
			return &audit.GroupMetrics{Group: "all", Metrics: m.Metrics, EvenSpread: audit.Num(math.NaN())}
		}
		names, before, after = []string{"all"}, []*audit.GroupMetrics{all(b)}, []*audit.GroupMetrics{all(a)}
	}
	return names, before, after
}

func est(e audit.Estimate) string {
	v := float64(e.Value)
	if math.IsNaN(v) {
		return "-"
	}
	if math.IsNaN(float64(e.Lo)) {
		return f3(v)
	}
	return fmt.Sprintf("%s [%s, %s]", f3(v), f3(float64(e.Lo)), f3(float64(e.Hi)))
}

func aRate(g *audit.GroupMetrics) audit.Estimate {
	if len(g.Letters.Selection) == 0 {
		return audit.Estimate{Value: audit.Num(math.NaN())}
	}
	return g.Letters.Selection[0]
}

func accWhenA(g *audit.GroupMetrics) audit.Estimate {
	if len(g.Letters.AccuracyByPosition) == 0 {
		return audit.Estimate{Value: audit.Num(math.NaN())}
	}
	return g.Letters.AccuracyByPosition[0]
}

// BeforeAfterTable is one row per group of the eval split: letters rule, before → after.
func (r *Report) BeforeAfterTable() (header []string, rows [][]string) {
	header = []string{"group", "items", "A rate before", "A rate after", "anchored before", "after", "even spread after",
		"accuracy before", "accuracy after", "acc. when A before", "after", "RStd before", "RStd after"}
	names, b, a := groupRows(r.Before, r.After)
	for i, n := range names {
		rows = append(rows, []string{n, fmt.Sprint(b[i].Items), est(aRate(b[i])), est(aRate(a[i])),
			f3(float64(b[i].Letters.Anchored.Value)), f3(float64(a[i].Letters.Anchored.Value)), f3(float64(a[i].EvenSpread)),
			est(b[i].Letters.Accuracy), est(a[i].Letters.Accuracy), f3(float64(accWhenA(b[i]).Value)), f3(float64(accWhenA(a[i]).Value)),
			est(b[i].Letters.RStd), est(a[i].Letters.RStd)})
	}
	return header, rows
}

// CyclicTable is one row per group of the eval split in every rotation of its options
// (letters rule), before → after: the anchored rate and its even spread, the anchored rate
// not by content, and circular accuracy.
func (r *Report) CyclicTable() (header []string, rows [][]string) {
	header = []string{"group", "items", "anchored before", "after", "even spread after", "anchored, not by content, before", "after",
		"circular accuracy before", "circular accuracy after"}
	names, b, a := groupRows(r.CyclicBefore, r.CyclicAfter)
	for i, n := range names {
		rows = append(rows, []string{n, fmt.Sprint(b[i].Items), f3(float64(b[i].Letters.Anchored.Value)), f3(float64(a[i].Letters.Anchored.Value)),
			f3(float64(a[i].EvenSpread)), est(*b[i].Letters.PositionalAnchored), est(*a[i].Letters.PositionalAnchored),
			est(*b[i].Letters.CircularAccuracy), est(*a[i].Letters.CircularAccuracy)})
	}
	return header, rows
}

func mdTable(w io.Writer, header []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}

// pooledStat sums the groups' counts into one line (fallback A rate, kept accuracy).
func pooledStat(st []GroupStat, groups []string) (aRate, chance, acc float64) {
	var n float64
	for _, g := range groups {
		s := find(st, g)
		if s.N == 0 {
			continue
		}
		aRate += s.ARate * float64(s.N)
		chance += s.Chance * float64(s.N)
		acc += s.Accuracy * float64(s.N)
		n += float64(s.N)
	}
	return aRate / n, chance / n, acc / n
}

// worstDrop is the largest accuracy loss over groups between two tallies.
func worstDrop(before, after []GroupStat, groups []string) (float64, string) {
	worst, at := math.Inf(-1), ""
	for _, g := range groups {
		if d := find(before, g).Accuracy - find(after, g).Accuracy; d > worst {
			worst, at = d, g
		}
	}
	return worst, at
}

func (r *Report) writeMarkdown(w io.Writer) error {
	s := r.Search
	best := s.Candidates[s.Best]
	fmt.Fprintf(w, "# Neutralizing the anchored answer: %s\n\n", r.Model)
	fmt.Fprintf(w, "- data: %s; fit split %d items, eval split %d items (the search saw only the fit split)\n", r.Data, r.FitItems, r.EvalItems)
	fmt.Fprintf(w, "- weight processing: %s\n", strings.Join(r.Processing, ", "))
	fmt.Fprintf(w, "- anchor: %q; fallback groups (brought to chance): %s; kept groups: %s\n", r.Trace.Anchor.Text, names(s.Fallback), names(s.Kept))
	fmt.Fprintf(w, "- chosen: **%s** (%s), objective %.3f on the fit split\n", best.Name, best.Family, best.Objective)
	if len(r.Edits) == 0 {
		fmt.Fprintf(w, "- edits.json: no edit (no candidate beat the model as it is)\n\n")
	} else {
		fmt.Fprintf(w, "- edits.json: %s\n\n", strings.Join(r.Edits, "; "))
	}

	fmt.Fprintf(w, "## Before and after, eval split (letters rule, 95%% bootstrap intervals)\n\n")
	h, rows := r.BeforeAfterTable()
	mdTable(w, h, rows)
	fmt.Fprintf(w, "![A rate by group](%s)\n\n![accuracy by position](%s)\n\n", FileGroups, FileAccuracy)
	fmt.Fprintf(w, "Accuracy by position of the correct answer (all eval items), before → after:\n\n")
	var ar [][]string
	for k := range r.Before.Letters.AccuracyByPosition {
		ar = append(ar, []string{string(rune('A' + k)), est(r.Before.Letters.AccuracyByPosition[k]), est(r.After.Letters.AccuracyByPosition[k])})
	}
	mdTable(w, []string{"answer at", "before", "after"}, ar)
	if r.CyclicBefore != nil {
		fmt.Fprintf(w, "## In every rotation of the options, eval split\n\n")
		fmt.Fprintf(w, "Each eval item again, its options in every cyclic order (what `mechlens audit eval.jsonl --permute cyclic` scores). "+
			"An item answered with the same option in every order follows that option's content: where the option stands at A, its A is the model's belief, right or wrong, not the anchor's pull, "+
			"and it adds as much to the anchored rate as to the even spread; *anchored, not by content* leaves those items out. "+
			"*Circular accuracy* counts an item right only when it is right in every order, so answers the anchor's position lends do not count.\n\n")
		h, rows := r.CyclicTable()
		mdTable(w, h, rows)
	}

	fmt.Fprintf(w, "## Side effects\n\n")
	if len(r.Side.Recall) > 0 {
		var rr [][]string
		for _, c := range r.Side.Recall {
			rr = append(rr, []string{c.Class, fmt.Sprint(c.N), f3(c.Before), f3(c.After)})
		}
		fmt.Fprintf(w, "Fact recall (greedy next token):\n\n")
		mdTable(w, []string{"class", "prompts", "before", "after"}, rr)
	}
	fmt.Fprintf(w, "KL(before ‖ after) of the next-token distribution over %d positions of neutral text: mean %.2e nats, max %.2e.\n\n", r.Side.Positions, r.Side.KL, r.Side.KLMax)
	for _, smp := range r.Side.Samples {
		fmt.Fprintf(w, "- `%s` → before `%s`, after `%s`\n", md(smp.Prompt), md(smp.Before), md(smp.After))
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "## Where the anchor comes from (trace of the fit split)\n\n")
	fmt.Fprintf(w, "logit(%s) − mean logit(other options) at the last position: %.3f [%.3f, %.3f] over %d items; patching reads %d known items (answered right, answer not the anchor) and changes %d fallback items (answered with the anchor, wrongly).\n\n",
		r.Trace.Anchor.Text, r.Trace.Diff.Mean, r.Trace.Diff.Lo, r.Trace.Diff.Hi, r.Trace.Items, r.Trace.Known, r.Trace.Fallback)
	if rot := r.Trace.Rotation; rot != nil && rot.Items > 0 {
		fmt.Fprintf(w, "With their options rotated by one position (the last to the first), the %d fallback items are answered at the anchor's position again %.3f of the time and follow the option they chose %.3f of the time.\n\n", rot.Items, rot.StillAnchor, rot.FollowsOption)
	}
	th := TraceHeader()
	trows := TraceRows(r.Trace)
	if len(r.Trace.GroupNames) > 0 {
		for _, g := range r.Trace.GroupNames {
			th = append(th, "direct, "+g)
		}
		for i, c := range append(append([]Component{}, r.Trace.Components...), r.Trace.Neurons...) {
			for j := range r.Trace.GroupNames {
				v := "-"
				if j < len(c.Groups) {
					v = f3(c.Groups[j].Mean)
				}
				trows[i] = append(trows[i], v)
			}
		}
	}
	mdTable(w, th, trows)
	fmt.Fprintf(w, "![components](%s)\n\n", FileTrace)
	fmt.Fprintf(w, "*direct*: the component's direct attribution (through ln_final's scale and W_U); *patched*: the change on the fallback items when its last-position output is set to the known items' mean (its total effect); *path: direct*: the change when only the final residual stream receives the patched output (path patching, sender → logits); *path: later layers*: the change when only the later heads and MLPs receive it (the route through which a component with a small direct effect can still carry the fallback).\n\n")
	if h, sr := ScanRows(r.Trace, 10); len(sr) > 0 {
		fmt.Fprintf(w, "The paper's neuron scan (top %d neurons per layer by |post|·‖W_out‖, flagged when the gap anchor − correct exceeds %g) over the %d non-anchor items; neurons never flagged are listed by their summed gap where they are among the top:\n\n", r.Trace.ScanTop, r.Trace.ScanGap, r.Trace.NonAnchor)
		mdTable(w, h, sr)
	}

	fmt.Fprintf(w, "## Every candidate\n\n")
	var gates []string
	for _, g := range s.Gates {
		gates = append(gates, fmt.Sprintf("%s (auc ≥ %s)", g, f3(g.AUC)))
	}
	fmt.Fprintf(w, "Built from the trace: route head %s (largest patching effect), value-vector neurons %s (chosen by %s), gates %s (per layer up to the route's next, the heads whose focus on one token orders the fallback items above the known ones with an auc over %g). Fit numbers for every candidate; eval numbers for the best of each family. "+
		"*fallback A*: share of the fallback groups' items answered with the anchor (chance %s); *worst kept Δacc*: the largest accuracy loss over the kept groups.\n\n",
		orNone(s.Route), orNone(strings.Join(s.Neurons, ", ")), s.NeuronRule, orNone(strings.Join(gates, ", ")), gateAUC, f3(func() float64 { _, c, _ := pooledStat(s.FitBefore, s.Fallback); return c }()))
	var cr [][]string
	for i, c := range s.Candidates {
		fa, _, _ := pooledStat(c.Fit, s.Fallback)
		fd, fg := worstDrop(s.FitBefore, c.Fit, s.Kept)
		ea, ed, eg := "", "", ""
		if c.Eval != nil {
			v, _, _ := pooledStat(c.Eval, s.Fallback)
			d, g := worstDrop(s.EvalBefore, c.Eval, s.Kept)
			ea, ed, eg = f3(v), f3(d), g
		}
		name := c.Name
		if i == s.Best {
			name = "**" + name + "**"
		}
		cr = append(cr, []string{c.Family, name, f3(c.Objective), f3(fa), strings.TrimSpace(f3(fd) + " " + paren(fg)), "", ea, strings.TrimSpace(ed + " " + paren(eg))})
	}
	mdTable(w, []string{"family", "candidate", "objective (fit)", "fit: fallback A", "fit: worst kept Δacc", "", "eval: fallback A", "eval: worst kept Δacc"}, cr)
	fmt.Fprintf(w, "![candidates](%s)\n", FileCandidates)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

func names(gs []string) string {
	var out []string
	for _, g := range gs {
		if g == "" {
			g = "all items"
		}
		out = append(out, g)
	}
	return strings.Join(out, ", ")
}

func md(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "`", "'"), "\n", " ") }

func (r *Report) groupPlot(path string) error {
	names, b, a := groupRows(r.Before, r.After)
	ss := []series{{name: "before"}, {name: "after"}}
	for i := range names {
		for k, g := range []*audit.GroupMetrics{b[i], a[i]} {
			e := aRate(g)
			ss[k].vals = append(ss[k].vals, float64(e.Value))
			ss[k].lo, ss[k].hi = append(ss[k].lo, float64(e.Lo)), append(ss[k].hi, float64(e.Hi))
		}
	}
	p, err := barPlot("Share answered with the anchor, eval split", "A rate (95% CI)", names, ss, math.NaN(), "")
	if err != nil {
		return err
	}
	p.Y.Min, p.Y.Max = 0, 1.2
	return savePNG(path, p, 8, 4)
}

func (r *Report) accuracyPlot(path string) error {
	var labels []string
	ss := []series{{name: "before"}, {name: "after"}}
	for k := range r.Before.Letters.AccuracyByPosition {
		labels = append(labels, string(rune('A'+k)))
		for j, m := range []*Measured{r.Before, r.After} {
			e := m.Letters.AccuracyByPosition[k]
			ss[j].vals = append(ss[j].vals, float64(e.Value))
			ss[j].lo, ss[j].hi = append(ss[j].lo, float64(e.Lo)), append(ss[j].hi, float64(e.Hi))
		}
	}
	p, err := barPlot("Accuracy by position of the correct answer, eval split", "accuracy (95% CI)", labels, ss, math.NaN(), "")
	if err != nil {
		return err
	}
	p.Y.Min, p.Y.Max = 0, 1.2
	return savePNG(path, p, 6, 4)
}

func (r *Report) candidatePlot(path string) error {
	s := r.Search
	var labels []string
	ss := []series{{name: "fallback A rate"}, {name: "kept accuracy"}}
	_, chance, _ := pooledStat(s.EvalBefore, s.Fallback)
	add := func(label string, st []GroupStat) {
		labels = append(labels, label)
		a, _, _ := pooledStat(st, s.Fallback)
		_, _, k := pooledStat(st, s.Kept)
		ss[0].vals = append(ss[0].vals, a)
		ss[1].vals = append(ss[1].vals, k)
	}
	for _, c := range s.Candidates {
		if c.Eval != nil {
			add(c.Family, c.Eval)
		}
	}
	p, err := barPlot("Best candidate of each family, eval split", "share", labels, ss, chance, "chance")
	if err != nil {
		return err
	}
	p.Y.Min, p.Y.Max = 0, 1.2
	return savePNG(path, p, vgLen(len(labels)), 4)
}

func vgLen(n int) vg.Length { return vg.Length(max(6, float64(n)*1.1)) }
