package audit

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mechlens/mechlens/internal/fsutil"
)

// WriteReports writes summary.json, summary.csv, report.md and (with plots) the PNG plots
// of s into dir.
func WriteReports(dir string, s *Summary, plots bool) error {
	f := FilesIn(dir, 0, 0)
	if err := writeJSON(f.Summary, s); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(f.CSV, func(w io.Writer) error { return s.WriteCSV(w) }); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(f.Report, func(w io.Writer) error { return s.WriteMarkdown(w, plots) }); err != nil {
		return err
	}
	if plots {
		return writePlots(f, s)
	}
	return nil
}

// labels returns the position labels of the summary's K positions.
func (s *Summary) labels() []string {
	K := len(s.Vocab.Selection)
	l := s.Format.Labels
	if len(l) < K {
		l = DefaultLabels()
	}
	return l[:K]
}

func fmtNum(x Num) string {
	f := float64(x)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return strconv.FormatFloat(f, 'f', 3, 64)
}

func fmtCI(e Estimate) string {
	if math.IsNaN(float64(e.Lo)) {
		return "-"
	}
	return "[" + fmtNum(e.Lo) + ", " + fmtNum(e.Hi) + "]"
}

func fmtP(p Num) string {
	f := float64(p)
	if math.IsNaN(f) {
		return "-"
	}
	return "p=" + strconv.FormatFloat(f, 'g', 3, 64)
}

// Table is the summary as rows: metric, whole-vocabulary rule and its interval, letters-only
// rule and its interval, and the count the rates are over.
func (s *Summary) Table() (header []string, rows [][]string) {
	header = []string{"metric", "vocab", "95% CI", "letters", "95% CI", "n"}
	both := func(name string, v, l Estimate) {
		rows = append(rows, []string{name, fmtNum(v.Value), fmtCI(v), fmtNum(l.Value), fmtCI(l), strconv.Itoa(v.N)})
	}
	one := func(name string, e Estimate) {
		rows = append(rows, []string{name, fmtNum(e.Value), fmtCI(e), "", "", strconv.Itoa(e.N)})
	}
	V, L := &s.Vocab, &s.Letters
	both("accuracy", V.Accuracy, L.Accuracy)
	for k, lab := range s.labels() {
		both("selected "+lab, V.Selection[k], L.Selection[k])
	}
	both("anchored (A when answer is not A)", V.Anchored, L.Anchored)
	rows = append(rows, []string{"A rate vs chance: z", fmtNum(V.ATest.Z), fmtP(V.ATest.P), fmtNum(L.ATest.Z), fmtP(L.ATest.P), strconv.Itoa(V.ATest.N)})
	for k, lab := range s.labels() {
		both("accuracy when answer is "+lab, V.AccuracyByPosition[k], L.AccuracyByPosition[k])
	}
	both("RStd", V.RStd, L.RStd)
	if V.Consistency != nil && L.Consistency != nil {
		both("consistency", *V.Consistency, *L.Consistency)
		both("circular accuracy (right in every order)", *V.CircularAccuracy, *L.CircularAccuracy)
		both("anchored, not by content (answer varies)", *V.PositionalAnchored, *L.PositionalAnchored)
	}
	one("no letter at argmax", s.NoLetter)
	one("logit diff A - correct", s.LogitDiff)
	return header, rows
}

// CompareTable is one row per summary: the figures of the paper's table across models.
func CompareTable(sums []*Summary) (header []string, rows [][]string) {
	permuted := false
	for _, s := range sums {
		permuted = permuted || s.Vocab.Consistency != nil
	}
	header = []string{"model", "items", "trials", "accuracy", "accuracy (letters)", "A rate", "chance", "z", "p", "anchored", "logit diff A-correct"}
	if permuted {
		header = append(header, "RStd", "consistency")
	}
	for _, s := range sums {
		row := []string{s.Model, strconv.Itoa(s.Items), strconv.Itoa(s.Trials), fmtNum(s.Vocab.Accuracy.Value),
			fmtNum(s.Letters.Accuracy.Value), fmtNum(s.Vocab.ATest.ARate), fmtNum(s.Vocab.ATest.Chance),
			fmtNum(s.Vocab.ATest.Z), strings.TrimPrefix(fmtP(s.Vocab.ATest.P), "p="), fmtNum(s.Vocab.Anchored.Value),
			fmtNum(s.LogitDiff.Value)}
		if permuted {
			c := "-"
			if s.Vocab.Consistency != nil {
				c = fmtNum(s.Vocab.Consistency.Value)
			}
			row = append(row, fmtNum(s.Vocab.RStd.Value), c)
		}
		rows = append(rows, row)
	}
	return header, rows
}

// WriteCompare writes comparison.csv and comparison.md for several models into dir.
func WriteCompare(dir string, sums []*Summary) error {
	h, rows := CompareTable(sums)
	path := func(s string) string { return filepath.Join(dir, s) }
	if err := fsutil.WriteFileAtomic(path("comparison.csv"), func(w io.Writer) error { return writeCSV(w, h, rows) }); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path("comparison.md"), func(w io.Writer) error {
		fmt.Fprintf(w, "# Anchored-bias audit: comparison of %d models\n\n", len(sums))
		fmt.Fprintf(w, "Whole-vocabulary argmax (the paper's rule); A rate tested against chance with the two-proportion z-test.\n\n")
		return writeMarkdownTable(w, h, rows)
	})
}

func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	cw.Write(header)
	cw.WriteAll(rows)
	return cw.Error()
}

func writeMarkdownTable(w io.Writer, header []string, rows [][]string) error {
	esc := func(c string) string { return strings.ReplaceAll(c, "|", `\|`) }
	line := func(cells []string) {
		for i := range cells {
			cells[i] = esc(cells[i])
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	line(append([]string{}, header...))
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(sep, "|"))
	for _, r := range rows {
		line(append([]string{}, r...))
	}
	_, err := fmt.Fprintln(w)
	return err
}

// WriteCSV writes every estimate in long form (CSVRows), header first.
func (s *Summary) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	cw.WriteAll(s.CSVRows())
	return cw.Error()
}

// CSVHeader names the columns of CSVRows.
var CSVHeader = []string{"rule", "metric", "position", "value", "lo", "hi", "n"}

// CSVRows is every estimate in long form, at full precision: rule, metric, position, value,
// lo, hi, n. rule is vocab, letters or empty (for metrics of no rule); position is the
// option's label, the layer for lens, or empty.
func (s *Summary) CSVRows() [][]string {
	var rows [][]string
	num := func(x Num) string {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return ""
		}
		return strconv.FormatFloat(float64(x), 'g', -1, 64)
	}
	add := func(rule, metric, pos string, e Estimate) {
		rows = append(rows, []string{rule, metric, pos, num(e.Value), num(e.Lo), num(e.Hi), strconv.Itoa(e.N)})
	}
	labs := s.labels()
	for _, r := range []struct {
		name string
		m    *RuleMetrics
	}{{"vocab", &s.Vocab}, {"letters", &s.Letters}} {
		add(r.name, "accuracy", "", r.m.Accuracy)
		for k, e := range r.m.Selection {
			add(r.name, "selection", labs[k], e)
		}
		add(r.name, "anchored", "", r.m.Anchored)
		t := r.m.ATest
		rows = append(rows, []string{r.name, "a_rate", "", num(t.ARate), "", "", strconv.Itoa(t.N)},
			[]string{r.name, "a_rate_chance", "", num(t.Chance), "", "", strconv.Itoa(t.N)},
			[]string{r.name, "a_rate_z", "", num(t.Z), "", "", strconv.Itoa(t.N)},
			[]string{r.name, "a_rate_p", "", num(t.P), "", "", strconv.Itoa(t.N)})
		for k, e := range r.m.AccuracyByPosition {
			add(r.name, "accuracy_by_position", labs[k], e)
		}
		add(r.name, "rstd", "", r.m.RStd)
		if r.m.Consistency != nil {
			add(r.name, "consistency", "", *r.m.Consistency)
			add(r.name, "circular_accuracy", "", *r.m.CircularAccuracy)
			add(r.name, "positional_anchored", "", *r.m.PositionalAnchored)
		}
	}
	for _, g := range s.Groups {
		add("letters", "group_accuracy", g.Group, g.Letters.Accuracy)
		if len(g.Letters.Selection) > 0 {
			add("letters", "group_a_rate", g.Group, g.Letters.Selection[0])
		}
		add("letters", "group_anchored", g.Group, g.Letters.Anchored)
		rows = append(rows, []string{"letters", "group_even_spread", g.Group, num(g.EvenSpread), "", "", strconv.Itoa(g.Letters.Anchored.N)})
		add("letters", "group_rstd", g.Group, g.Letters.RStd)
		if g.Letters.CircularAccuracy != nil {
			add("letters", "group_circular_accuracy", g.Group, *g.Letters.CircularAccuracy)
			add("letters", "group_positional_anchored", g.Group, *g.Letters.PositionalAnchored)
		}
	}
	add("", "no_letter", "", s.NoLetter)
	add("", "logit_diff", "", s.LogitDiff)
	for l, e := range s.Lens {
		add("", "lens", strconv.Itoa(l), e)
	}
	return rows
}

// WriteMarkdown writes report.md.
func (s *Summary) WriteMarkdown(w io.Writer, plots bool) error {
	fmt.Fprintf(w, "# Anchored-bias audit: %s\n\n", s.Model)
	proc := strings.Join(s.Processing, ", ")
	if proc == "" {
		proc = "none"
	}
	fmt.Fprintf(w, "- data: %s (%s): %d items, %d trials, orders: %s\n", s.Data, s.Schema, s.Items, s.Trials, s.Permute)
	fmt.Fprintf(w, "- prompt: `%s`, letters `%s`, BOS %v\n", strings.ReplaceAll(s.Format.Template, "`", "'"), s.Format.Style, s.Format.BOS)
	fmt.Fprintf(w, "- weight processing: %s\n", proc)
	for _, e := range s.Edits {
		fmt.Fprintf(w, "- edit: %s\n", e)
	}
	fmt.Fprintf(w, "- 95%% intervals: %d bootstrap resamples of items, seed %d\n", s.Bootstrap, s.Seed)
	if len(s.Skipped) > 0 {
		fmt.Fprintf(w, "- skipped rows: %d (listed at the end)\n", len(s.Skipped))
	}
	fmt.Fprintf(w, "- letter spellings used: %s\n\n", variants(s.Variants))
	fmt.Fprintf(w, "## Summary\n\n")
	fmt.Fprintf(w, "*vocab*: the prediction is the argmax over the whole vocabulary (the paper's rule); *letters*: the argmax over the options' letters only.\n\n")
	h, rows := s.Table()
	writeMarkdownTable(w, h, rows)
	s.writeGroupsMarkdown(w)
	fmt.Fprintf(w, "The A rate is compared with chance (the mean of 1/options) by a two-proportion z-test against a chance selector's sample of the same size. "+
		"*anchored* is over trials whose correct answer is not A; *logit diff* is logit(A) − logit(correct) over the same trials.\n\n")
	if plots {
		fmt.Fprintf(w, "## Selection rate by position\n\n![selection rate by position](selection.png)\n\n")
		fmt.Fprintf(w, "## Accuracy by position of the correct answer\n\n![accuracy by position](accuracy.png)\n\n")
	}
	fmt.Fprintf(w, "## Logit lens: logit(A) − logit(correct) after each block\n\n")
	lr := make([][]string, len(s.Lens))
	for l, e := range s.Lens {
		lr[l] = []string{strconv.Itoa(l), fmtNum(e.Value), fmtCI(e)}
	}
	writeMarkdownTable(w, []string{"layer", "mean", "95% CI"}, lr)
	if plots {
		fmt.Fprintf(w, "![logit lens](lens.png)\n\n")
	}
	if len(s.Skipped) > 0 {
		fmt.Fprintf(w, "## Skipped rows\n\n")
		for i, sk := range s.Skipped {
			if i == 50 {
				fmt.Fprintf(w, "- ... and %d more (see summary.json)\n", len(s.Skipped)-50)
				break
			}
			fmt.Fprintf(w, "- line %d: %s\n", sk.Line, sk.Error)
		}
	}
	return nil
}

func variants(v map[string]int) string {
	var parts []string
	for _, k := range []string{"space", "bare"} {
		if v[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, v[k]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}
