package tui

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/view"
)

// Every colour is a 256-colour index, the heat palette's (cli.HeatColor) or close to it; the
// terminal's colour profile downsamples them, and NO_COLOR drops them: the views never rely
// on colour alone (cursor brackets, ▸ marks, bar glyphs and shade characters carry it too).
var styles = struct {
	title, tab, tabOn, cursor, alt, dim, err, pos, neg lipgloss.Style
}{
	title:  lipgloss.NewStyle().Bold(true),
	tab:    lipgloss.NewStyle().Faint(true),
	tabOn:  lipgloss.NewStyle().Bold(true).Reverse(true),
	cursor: lipgloss.NewStyle().Bold(true).Reverse(true),
	alt:    lipgloss.NewStyle().Foreground(lipgloss.Color("110")),
	dim:    lipgloss.NewStyle().Faint(true),
	err:    lipgloss.NewStyle().Foreground(lipgloss.Color("196")),
	pos:    lipgloss.NewStyle().Foreground(lipgloss.Color("203")),
	neg:    lipgloss.NewStyle().Foreground(lipgloss.Color("69")),
}

// heat shades s by x in [−1, 1] with the tables' palette.
func heat(s string, x float64) string {
	c := cli.HeatColor(x)
	if c == 0 || math.IsNaN(x) {
		return s
	}
	return lipgloss.NewStyle().Background(lipgloss.Color(fmt.Sprint(c))).Foreground(lipgloss.Color("16")).Render(s)
}

// shadeRune draws a weight in [0, 1] as a character, so that a heat grid reads without colour.
func shadeRune(w float64) string {
	levels := []string{"  ", "░░", "▒▒", "▓▓", "██"}
	return levels[min(int(math.Max(w, 0)*float64(len(levels)-1)+0.5), len(levels)-1)]
}

// View draws the whole screen.
func (m Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.WindowTitle = "mechlens tui"
	return v
}

// Render is the screen as text: a tab bar, the prompt's tokens, the target and distractor,
// the active pane, and a status or input line.
func (m Model) Render() string {
	w, h := max(m.width, 20), max(m.height, 6)
	lines := []string{m.tabs(w), m.promptLine(w), m.pairLine(w)}
	bodyH := h - len(lines) - 1
	var body string
	switch {
	case m.help:
		body = helpView()
	case m.res == nil && m.pane != paneAudit:
		body = "computing…"
	default:
		body = m.paneView(w, bodyH)
	}
	lines = append(lines, fit(body, w, bodyH)...)
	lines = append(lines, m.footer(w))
	return strings.Join(lines, "\n")
}

func (m Model) paneView(w, h int) string {
	switch m.pane {
	case paneTokens:
		return m.tokensView(w, h)
	case paneLens:
		return m.lensView(w, h)
	case paneAttribution:
		return m.attributionView(w, h)
	case paneHeads:
		return m.headsView(w, h)
	case paneNeurons:
		return m.neuronsView(w, h)
	case paneAudit:
		return m.auditView(w, h)
	case paneEdits:
		return m.editsView(w, h)
	}
	return ""
}

// fit cuts or pads s to exactly h lines of at most w cells.
func fit(s string, w, h int) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i := range lines {
		lines[i] = ansi.Truncate(lines[i], w, "…")
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return lines
}

// truncateLeft keeps the part of a line that ends at cell end within width cells.
func truncateLeft(s string, width, end int) string {
	if end > width {
		s = ansi.TruncateLeft(s, end-width+1, "…")
	}
	return ansi.Truncate(s, width, "…")
}

func (m Model) tabs(w int) string {
	parts := []string{styles.title.Render("mechlens")}
	for p := range nPanes {
		s := fmt.Sprintf("%d %s", p+1, p)
		if p == m.pane {
			parts = append(parts, styles.tabOn.Render("["+s+"]"))
		} else {
			parts = append(parts, styles.tab.Render(" "+s+" "))
		}
	}
	if line := strings.Join(parts, " "); ansi.StringWidth(line) <= w {
		return line
	}
	return ansi.Truncate(strings.Join(parts[1:], " "), w, "…") // the name gives way to the panes
}

// promptLine shows the prompt as its tokens, alternately coloured, the cursor's in brackets.
func (m Model) promptLine(w int) string {
	if m.ids == nil {
		return styles.dim.Render("no prompt: press e to type one")
	}
	var b strings.Builder
	end := 0
	for i, id := range m.ids {
		s := strings.ReplaceAll(m.base.Tokenizer.TokenText(id), "\n", "↵")
		switch {
		case i == m.pos:
			s = styles.cursor.Render("[" + s + "]")
		case i%2 == 1:
			s = styles.alt.Render(s)
		}
		b.WriteString(s)
		if i == m.pos {
			end = ansi.StringWidth(b.String())
		}
	}
	return truncateLeft(b.String(), w, end)
}

// pairLine names the target and distractor and their logit difference at the cursor.
func (m Model) pairLine(w int) string {
	busy := ""
	if m.busy {
		busy = styles.dim.Render("  computing…")
	}
	if m.res == nil {
		return busy
	}
	r := m.res
	s := fmt.Sprintf("pos %d/%d %s  %s vs %s  logit diff %+.4f", r.Pos, len(r.Tokens)-1, view.Quote(r.Tokens[r.Pos].Text),
		view.Quote(r.Target.Text), view.Quote(r.Distractor.Text), r.LogitDiff)
	if e := m.edited; e != nil {
		s += fmt.Sprintf(" → edited %+.4f (Δ %+.4f)", e.LogitDiff, e.LogitDiff-r.LogitDiff)
	}
	return ansi.Truncate(s+busy, w, "…")
}

func (m Model) footer(w int) string {
	if m.in != inputNone {
		return ansi.Truncate(inputLabels[m.in]+": "+m.input.View(), w, "")
	}
	if m.status != "" {
		return ansi.Truncate(styles.err.Render(m.status), w, "…")
	}
	return ansi.Truncate(styles.dim.Render(paneHints[m.pane]+"  ←→ position  e prompt  t/b/s tokens  a/x/V/S edit  ? help  q quit"), w, "…")
}

var paneHints = [nPanes]string{
	paneTokens:      "",
	paneLens:        "↑↓ layer  n norm  r prob/rank/diff",
	paneAttribution: "↑↓ select  enter open",
	paneHeads:       "↑↓ head  [ ] layer",
	paneNeurons:     "/ search  ↑↓ select  enter open",
	paneAudit:       "↑↓ item  enter open",
	paneEdits:       "↑↓ select  space toggle  d delete  u undo  w save  L load",
}

// table draws view rows with their heat, h lines at most, the selected row (−1: none) marked
// and kept in sight.
func table(rows *cli.Rows, sel, h int) string {
	var buf bytes.Buffer
	rows.WriteTable(&buf, true)
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	head, body := lines[0], lines[1:]
	first := 0
	if n := h - 1; n > 0 && len(body) > n {
		first = max(0, min(sel-n/2, len(body)-n))
		body = body[first : first+n]
	}
	out := []string{"  " + head}
	for i, l := range body {
		mark := "  "
		if first+i == sel {
			mark = "▸ "
		}
		out = append(out, mark+l)
	}
	return strings.Join(out, "\n")
}

// tokensView lists the prompt's tokens beside the next-token candidates at the cursor.
func (m Model) tokensView(w, h int) string {
	r := m.res
	toks := &cli.Rows{Header: []string{"pos", "id", "token"}}
	for i, t := range r.Tokens {
		toks.Add(i, t.ID, view.Quote(t.Text))
	}
	cands := &cli.Rows{Header: []string{"rank", "next token", "id", "logit", "prob"}}
	for i, c := range r.Candidates {
		cands.Add(i+1, view.Quote(c.Text), c.ID, c.Logit, c.Prob)
		cands.Heat = append(cands.Heat, append(view.NoHeat(4), c.Prob))
	}
	if e := m.edited; e != nil {
		both := &cli.Rows{Header: []string{"rank", "base", "logit", "prob", "edited", "logit", "prob"}}
		for i := range min(len(r.Candidates), len(e.Candidates)) {
			b, c := r.Candidates[i], e.Candidates[i]
			both.Add(i+1, view.Quote(b.Text), b.Logit, b.Prob, view.Quote(c.Text), c.Logit, c.Prob)
			both.Heat = append(both.Heat, []float64{math.NaN(), math.NaN(), math.NaN(), b.Prob, math.NaN(), math.NaN(), c.Prob})
		}
		return table(both, -1, h)
	}
	left := table(toks, r.Pos, h)
	return lipgloss.JoinHorizontal(lipgloss.Top, left, "   ", table(cands, -1, h))
}

// The lens grid's geometry: a label column, then one cell per position.
const (
	lensLabelWidth = 9
	lensCellWidth  = 7
)

// lensView is the logit lens as a grid of layers × positions shaded by the target's
// probability, rank, or logit difference with the distractor, with the selected cell's top
// tokens under it.
func (m Model) lensView(w, h int) string {
	ll, le := m.res.Lens, (*lens.LogitLens)(nil)
	if m.edited != nil && m.side != sideBase {
		le = m.edited.Lens
	}
	if ll == nil || (m.edited != nil && m.side != sideBase && le == nil) {
		return "computing the lens…"
	}
	c := m.base.Config
	// val is a cell's number in the chosen mode; on the difference side, edited − base.
	val := func(r lens.LensRow) float64 {
		switch m.lensMode {
		case lensRank:
			return float64(r.Targets[0].Rank)
		case lensDiff:
			return r.Targets[0].Logit - r.Targets[1].Logit
		}
		return r.Targets[0].Prob
	}
	P := len(ll.Positions)
	vals := make([]float64, len(ll.Rows))
	peak := 0.0
	for i, r := range ll.Rows {
		switch {
		case le != nil && m.side == sideEdited:
			vals[i] = val(le.Rows[i])
		case le != nil && m.side == sideDiff:
			vals[i] = val(le.Rows[i]) - val(r)
		default:
			vals[i] = val(r)
		}
		peak = math.Max(peak, math.Abs(vals[i]))
	}
	var b strings.Builder
	what := [...]string{lensProb: "prob of " + view.Quote(m.res.Target.Text), lensRank: "rank of " + view.Quote(m.res.Target.Text),
		lensDiff: "logit " + view.Quote(m.res.Target.Text) + " − logit " + view.Quote(m.res.Distractor.Text)}[m.lensMode]
	fmt.Fprintf(&b, "%s by layer (norm %s)%s\n", what, ll.Norm, m.sideLabel())
	b.WriteString(strings.Repeat(" ", lensLabelWidth))
	for _, p := range ll.Positions {
		s := ansi.Truncate(fmt.Sprintf("%-*s", lensCellWidth-1, strings.ReplaceAll(m.res.Tokens[p].Text, "\n", "↵")), lensCellWidth-1, "")
		if p == m.pos {
			s = styles.cursor.Render(s)
		}
		b.WriteString(s + " ")
	}
	b.WriteString("\n")
	diff := le != nil && m.side == sideDiff
	for i, pt := range ll.Points {
		mark := "  "
		if i == m.lensRow {
			mark = "▸ "
		}
		fmt.Fprintf(&b, "%s%-*s", mark, lensLabelWidth-2, view.PointLabel(pt, c))
		for j := range P {
			v := vals[i*P+j]
			var cell string
			x := v / math.Max(peak, 1e-12) // logit differences and differences of sides: signed, by the grid's peak
			switch {
			case m.lensMode == lensRank && diff:
				cell, x = fmt.Sprintf("%+*d", lensCellWidth-1, int(v)), -x // a lower rank is a gain
			case m.lensMode == lensRank:
				cell, x = fmt.Sprintf("%*d", lensCellWidth-1, int(v)), 1/v
			case m.lensMode == lensProb && !diff:
				cell, x = fmt.Sprintf("%*.3f", lensCellWidth-1, v), v
			case m.lensMode == lensDiff && !diff:
				cell = fmt.Sprintf("%+*.2f", lensCellWidth-1, v)
			default:
				cell = fmt.Sprintf("%+*.3f", lensCellWidth-1, v)
			}
			b.WriteString(heat(cell, x) + " ")
		}
		b.WriteString("\n")
	}
	if j := slices.Index(ll.Positions, m.pos); j >= 0 && m.lensRow < len(ll.Points) {
		row := ll.Rows[m.lensRow*len(ll.Positions)+j]
		if le != nil {
			row = le.Rows[m.lensRow*len(ll.Positions)+j]
		}
		fmt.Fprintf(&b, "\n%s at %d %s: ", view.PointLabel(row.Point, c), row.Pos, view.Quote(m.res.Tokens[row.Pos].Text))
		for _, t := range row.Top {
			fmt.Fprintf(&b, "%s %.3f  ", view.Quote(t.Text), t.Prob)
		}
		b.WriteString("\n")
		for _, t := range row.Targets {
			fmt.Fprintf(&b, "%s logit %.3f prob %.3f rank %d   ", view.Quote(t.Text), t.Logit, t.Prob, t.Rank)
		}
		fmt.Fprintf(&b, "\nentropy %.3f  KL to final %.3f", row.Entropy, row.KL)
	}
	return b.String()
}

// attRow is one line of the attribution pane: a part or a neuron, and what enter opens.
type attRow struct {
	name, kind   string
	value        float64
	edited       float64 // under the edits; NaN when there are none or the row is not in the edited list
	head, neuron *Unit
}

// attributionRows are the parts and the attributed neurons by decreasing |effect|.
func (m Model) attributionRows() []attRow {
	if m.res == nil {
		return nil
	}
	edited := map[string]float64{}
	if e := m.edited; e != nil {
		for _, p := range e.Attribution.Parts {
			edited[p.Name] = p.Value
		}
		for _, list := range [][]lens.NeuronContribution{e.Neurons.Promoters, e.Neurons.Suppressors} {
			for _, n := range list {
				edited[fmt.Sprintf("%d.%d", n.Layer, n.Neuron)] = n.Contribution
			}
		}
	}
	ev := func(name string) float64 {
		if v, ok := edited[name]; ok {
			return v
		}
		return math.NaN()
	}
	var rows []attRow
	for _, p := range view.SortParts(m.res.Attribution.Parts, true) {
		r := attRow{name: p.Name, kind: p.Kind, value: p.Value, edited: ev(p.Name)}
		switch p.Kind {
		case lens.PartHead:
			r.head = &Unit{p.Layer, p.Head}
		case lens.PartMLP:
			if n := m.topNeuron(p.Layer); n != nil {
				r.neuron = n
			}
		}
		rows = append(rows, r)
	}
	for _, list := range [][]lens.NeuronContribution{m.res.Neurons.Promoters, m.res.Neurons.Suppressors} {
		for _, n := range list {
			name := fmt.Sprintf("%d.%d", n.Layer, n.Neuron)
			rows = append(rows, attRow{name: name, kind: "neuron", value: n.Contribution, edited: ev(name), neuron: &Unit{n.Layer, n.Neuron}})
		}
	}
	slices.SortStableFunc(rows, func(x, y attRow) int { return cmp.Compare(math.Abs(y.value), math.Abs(x.value)) })
	return rows
}

// topNeuron is the neuron of a layer that contributes most, of those attributed.
func (m Model) topNeuron(layer int) *Unit {
	var best *Unit
	bv := -1.0
	for _, list := range [][]lens.NeuronContribution{m.res.Neurons.Promoters, m.res.Neurons.Suppressors} {
		for _, n := range list {
			if n.Layer == layer && math.Abs(n.Contribution) > bv {
				best, bv = &Unit{n.Layer, n.Neuron}, math.Abs(n.Contribution)
			}
		}
	}
	return best
}

// attributionView draws the direct effects on logit(target) − logit(distractor) as bars.
func (m Model) attributionView(w, h int) string {
	at := m.res.Attribution
	rows := m.attributionRows()
	var b strings.Builder
	fmt.Fprintf(&b, "direct effect on logit %s − logit %s at %d: model %+.4f = parts %+.4f\n",
		view.Quote(at.Target.Text), view.Quote(at.Baseline.Text), at.Pos, at.Logit, at.Sum)
	n := h - 1
	if m.edited != nil {
		e := m.edited.Attribution
		fmt.Fprintf(&b, "  %-12s %-7s %9s %9s %9s   edited: model %+.4f\n", "", "", "base", "edited", "Δ", e.Logit)
		n--
	}
	first := max(0, min(m.attRow-n/2, len(rows)-n))
	peak := 0.0
	for _, r := range rows {
		peak = math.Max(peak, math.Abs(r.value))
	}
	barW := max(w-36, 4)
	if m.edited != nil {
		barW = max(w-52, 4)
	}
	for i := first; i < min(first+n, len(rows)); i++ {
		r := rows[i]
		mark := "  "
		if i == m.attRow {
			mark = "▸ "
		}
		k := 0
		if peak > 0 {
			k = int(math.Round(math.Abs(r.value) / peak * float64(barW)))
		}
		bar := styles.pos.Render(strings.Repeat("█", k))
		if r.value < 0 {
			bar = styles.neg.Render(strings.Repeat("░", k))
		}
		if m.edited != nil {
			ed, d := "", ""
			if !math.IsNaN(r.edited) {
				ed, d = fmt.Sprintf("%+9.4f", r.edited), fmt.Sprintf("%+9.4f", r.edited-r.value)
			}
			fmt.Fprintf(&b, "%s%-12s %-7s %+9.4f %9s %9s %s\n", mark, r.name, r.kind, r.value, ed, d, bar)
			continue
		}
		fmt.Fprintf(&b, "%s%-12s %-13s %+9.4f %s\n", mark, r.name, r.kind, r.value, bar)
	}
	return b.String()
}

// headsView shows every head's direct effect as a grid to choose from, the chosen head's
// attention pattern and where the cursor attends.
func (m Model) headsView(w, h int) string {
	c := m.base.Config
	r := m.shown()
	effect := make([]float64, c.NLayers*c.NHeads)
	peak := 0.0
	for _, p := range r.Attribution.Parts {
		if p.Kind == lens.PartHead {
			effect[p.Layer*c.NHeads+p.Head] = p.Value
			peak = math.Max(peak, math.Abs(p.Value))
		}
	}
	// A cell is the value between two spaces (or brackets, selected); with many heads the
	// values lose a decimal so that a row fits.
	format, vw := "%+5.2f", 5
	if 4+c.NHeads*(vw+2) > w {
		format, vw = "%+4.1f", 4
	}
	var g strings.Builder
	g.WriteString("direct effect" + m.sideLabel() + "\nL\\H ")
	for hd := range c.NHeads {
		fmt.Fprintf(&g, " %*d ", vw, hd)
	}
	for l := range c.NLayers {
		fmt.Fprintf(&g, "\n%3d ", l)
		for hd := range c.NHeads {
			v := effect[l*c.NHeads+hd]
			s := fmt.Sprintf(format, v)
			if (Unit{l, hd}) == m.head {
				s = styles.cursor.Render("[" + s + "]")
			} else {
				s = " " + heat(s, v/math.Max(peak, 1e-12))
			}
			g.WriteString(s)
			if (Unit{l, hd}) != m.head {
				g.WriteString(" ")
			}
		}
	}
	u := m.head
	var d strings.Builder
	fmt.Fprintf(&d, "L%dH%d: direct effect %+.4f on logit %s − logit %s\n", u.Layer, u.Index, effect[u.Layer*c.NHeads+u.Index],
		view.Quote(r.Target.Text), view.Quote(r.Distractor.Text))
	from := r.FromCursor[u.Layer*c.NHeads+u.Index]
	keys := make([]int, len(from))
	for i := range keys {
		keys[i] = i
	}
	slices.SortStableFunc(keys, func(x, y int) int { return cmp.Compare(from[y], from[x]) })
	fmt.Fprintf(&d, "from %d attends to:", r.Pos)
	for _, k := range keys[:min(4, len(keys))] {
		fmt.Fprintf(&d, " %s@%d %.2f", view.Quote(r.Tokens[k].Text), k, from[k])
	}
	if len(r.Options) > 0 {
		d.WriteString("\noptions:")
		for _, o := range r.Options {
			fmt.Fprintf(&d, " %s@%d %.2f", o.Letter, o.Pos, from[o.Pos])
		}
	}
	grid := g.String()
	rest := h - strings.Count(grid, "\n") - strings.Count(d.String(), "\n") - 3
	return grid + "\n\n" + d.String() + "\n" + m.patternGrid(w, rest)
}

// patternGrid draws the chosen head's pattern: a row per query (the cursor's marked), a
// two-cell shade per key.
func (m Model) patternGrid(w, h int) string {
	pat := m.shown().Pattern
	if h < 2 || pat == nil {
		return ""
	}
	T := len(pat)
	cols := min(T, (w-6)/2)
	firstKey := max(0, min(m.pos-cols/2, T-cols))
	n := h - 1
	first := max(0, min(m.pos-n/2, T-n))
	var b strings.Builder
	fmt.Fprintf(&b, "pattern q\\k %d..%d\n", firstKey, firstKey+cols-1)
	for q := first; q < min(first+n, T); q++ {
		mark := " "
		if q == m.pos {
			mark = "▸"
		}
		fmt.Fprintf(&b, "%s%3d  ", mark, q)
		for k := firstKey; k < firstKey+cols; k++ {
			b.WriteString(heat(shadeRune(pat[q][k]), pat[q][k]))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// neuronsView shows the chosen neuron's activation over the prompt and its value vector,
// and the results of a value-vector search.
func (m Model) neuronsView(w, h int) string {
	r := m.shown()
	vv := r.Value
	if vv == nil {
		return "computing the neuron…"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "neuron %d.%d  ‖W_out‖ %.3f  mlp.hook_post over the prompt%s:\n", vv.Layer, vv.Neuron, vv.Norm, m.sideLabel())
	peak := 0.0
	for _, a := range r.Activation {
		peak = math.Max(peak, math.Abs(a))
	}
	var act strings.Builder
	end := 0
	for p, a := range r.Activation {
		s := strings.ReplaceAll(r.Tokens[p].Text, "\n", "↵")
		if p == m.pos {
			s = "[" + s + "]"
		}
		act.WriteString(heat(s, a/math.Max(peak, 1e-12)))
		if p == m.pos {
			end = ansi.StringWidth(act.String())
		}
	}
	b.WriteString(truncateLeft(act.String(), w, end) + "\n")
	fmt.Fprintf(&b, "at %d: %.4f (peak |%.4f|)\n", m.pos, r.Activation[m.pos], peak)
	vr := view.ValueVectorRows(vv)
	b.WriteString(table(vr, -1, len(vr.Cells)+1) + "\n")
	if m.search != nil {
		rest := h - strings.Count(b.String(), "\n") - 1
		fmt.Fprintf(&b, "value vectors promoting %s (enter opens):\n", view.Quote(m.search.Token.Text))
		b.WriteString(table(view.PromoterRows(m.search), m.searchRow, rest))
	} else {
		b.WriteString(styles.dim.Render("/ searches the value vectors that promote a token"))
	}
	return b.String()
}

// auditView shows an audit's summary, its selection rates by position and its items by
// logit difference.
func (m Model) auditView(w, h int) string {
	au := m.opts.Audit
	if au == nil {
		return "no audit: start with --audit DIR (a folder written by mechlens audit --out DIR)"
	}
	s := au.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "%s · %s · %d items, %d trials\n", s.Model, s.Data, s.Items, s.Trials)
	fmt.Fprintf(&b, "accuracy %.3f  anchored %.3f  logit diff A − correct %.3f\n", float64(s.Vocab.Accuracy.Value), float64(s.Vocab.Anchored.Value), float64(s.LogitDiff.Value))
	b.WriteString("selected when shown at:")
	labels := s.Format.Labels
	if len(labels) == 0 {
		labels = []string{"A", "B", "C", "D", "E", "F", "G", "H"}
	}
	for k, e := range s.Vocab.Selection {
		if e.N == 0 {
			continue
		}
		n := int(math.Round(float64(e.Value) * 5))
		fmt.Fprintf(&b, " %s %s%s %.2f", labels[k], styles.pos.Render(strings.Repeat("█", n)), strings.Repeat("·", 5-n), float64(e.Value))
	}
	b.WriteString("\n")
	rows := &cli.Rows{Header: []string{"#", "id", "perm", "answer", "top", "logit diff"}}
	for i, r := range au.Records {
		rows.Add(i+1, r.ID, r.Perm, labels[r.Answer], view.Quote(r.TopText), r.LogitDiff)
		rows.Heat = append(rows.Heat, append(view.NoHeat(5), float64(r.LogitDiff)))
	}
	b.WriteString(table(rows, m.auditRow, h-strings.Count(b.String(), "\n")))
	return b.String()
}

// helpView is the key map.
func helpView() string {
	return `keys (any key closes this help)
  1-7, tab, shift+tab   panes: tokens lens attribution heads neurons audit edits
  ←/→ or h/l, home/end  move the cursor over the prompt's positions
  e                     edit the prompt (enter runs it, esc cancels)
  t / b / s             type the target / the distractor token / swap them
  ↑/↓ or k/j, enter     select a row / open its head, neuron or audit item
  n / r                 lens: own or final-scale norm / prob, rank or logit diff
  [ / ]                 heads: previous / next layer
  /                     neurons: search the value vectors promoting a token
  a / x                 ablate / scale the selected head or neuron
  V / S                 value-vector rule on the neuron / steer at the cursor
  space, d, u           edits: toggle, delete; undo the last change
  w / L                 save the edits (for --edits) / load an edit set
  v                     show base, edited or their difference
  ctrl+s                save the session to --session FILE (also on quit)
  ?  q, ctrl+c          this help; quit`
}

// shown is the analysis the lens, heads and neurons panes draw: the edited model's when
// there are edits and v chose it (the heads and neurons panes show it for the difference too).
func (m Model) shown() *Analysis {
	if m.edited != nil && m.side != sideBase {
		return m.edited
	}
	return m.res
}

// sideLabel names the side shown once there are edits.
func (m Model) sideLabel() string {
	if m.edited == nil {
		return ""
	}
	return " [" + sideNames[m.side] + ", v switches]"
}

// editsView lists the active edits, each on or off, and what they do to the logit difference.
func (m Model) editsView(w, h int) string {
	var b strings.Builder
	if len(m.edits) == 0 {
		b.WriteString(`no edits. In the heads, neurons or attribution pane:
  a   ablate the selected head or neuron (scale it by 0)
  x   scale it by a factor
  V   the anchored-bias value-vector rule on the selected neuron:
      W_out[i] − α1·W_U[target] + α2·W_U[distractor]
  S   steer the residual stream at the cursor toward target − distractor
  L   load an edit set (a file from w, mechlens edit or --edits)`)
		return b.String()
	}
	on := 0
	for _, e := range m.edits {
		if e.On {
			on++
		}
	}
	fmt.Fprintf(&b, "%d edits, %d on; logit diff base %+.4f", len(m.edits), on, m.res.LogitDiff)
	if m.edited != nil {
		fmt.Fprintf(&b, ", edited %+.4f (Δ %+.4f)", m.edited.LogitDiff, m.edited.LogitDiff-m.res.LogitDiff)
	}
	b.WriteString("\n")
	first := max(0, min(m.editRow-(h-1)/2, len(m.edits)-(h-1)))
	for i := first; i < min(first+h-1, len(m.edits)); i++ {
		e := m.edits[i]
		mark, box := "  ", "[ ]"
		if i == m.editRow {
			mark = "▸ "
		}
		if e.On {
			box = "[x]"
		}
		fmt.Fprintf(&b, "%s%s %s\n", mark, box, e.Edit.String())
	}
	return b.String()
}
