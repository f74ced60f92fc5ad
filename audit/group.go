package audit

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
)

// GroupMetrics are the metrics of the records of one group (the items' "group" field, such
// as the organism's F/R/U classes).
type GroupMetrics struct {
	Group string `json:"group"`
	Metrics
	// EvenSpread is, under the letters rule, the anchored rate the group would show if its
	// errors on items whose answer is not A were spread evenly over the wrong letters: an
	// anchored rate above it is a pull toward A, not just errors.
	EvenSpread Num `json:"even_spread"`
}

// groupMetrics splits records by group (in sorted order) and computes each group's
// metrics; nil when no record has a group.
func groupMetrics(ctx context.Context, recs []Record, boot int, seed uint64, permuted bool) ([]GroupMetrics, error) {
	by := map[string][]Record{}
	for _, r := range recs {
		if r.Group != "" {
			by[r.Group] = append(by[r.Group], r)
		}
	}
	if len(by) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(by))
	for g := range by {
		names = append(names, g)
	}
	sort.Strings(names)
	out := make([]GroupMetrics, len(names))
	for i, g := range names {
		rs := by[g]
		m, err := computeMetrics(ctx, rs, boot, seed, permuted)
		if err != nil {
			return nil, err
		}
		out[i] = GroupMetrics{Group: g, Metrics: m, EvenSpread: Num(evenSpread(rs))}
	}
	return out, nil
}

// evenSpread is Σ over trials whose answer is not A and that are answered wrong (letters
// rule) of 1/(options − 1), over the trials whose answer is not A.
func evenSpread(recs []Record) float64 {
	var notA, even float64
	for _, r := range recs {
		if r.Answer == 0 {
			continue
		}
		notA++
		if r.PredLetters != r.Answer {
			even += 1 / float64(len(r.Order)-1)
		}
	}
	if notA == 0 {
		return math.NaN()
	}
	return even / notA
}

// GroupTable is one row per group, letters rule: items, accuracy, A rate, anchored rate
// and its even-spread reference, accuracy when the answer is A, RStd; with several orders
// per item also the anchored rate not explained by content, and circular accuracy.
func (s *Summary) GroupTable() (header []string, rows [][]string) {
	header = []string{"group", "items", "accuracy", "95% CI", "A rate", "95% CI", "anchored", "95% CI", "even spread", "acc. when A", "RStd"}
	permuted := len(s.Groups) > 0 && s.Groups[0].Letters.CircularAccuracy != nil
	if permuted {
		header = append(header, "anchored, not by content", "circular acc.")
	}
	for _, g := range s.Groups {
		L := &g.Letters
		var aRate, accA Estimate
		if len(L.Selection) > 0 {
			aRate, accA = L.Selection[0], L.AccuracyByPosition[0]
		}
		rows = append(rows, []string{g.Group, strconv.Itoa(g.Items), fmtNum(L.Accuracy.Value), fmtCI(L.Accuracy),
			fmtNum(aRate.Value), fmtCI(aRate), fmtNum(L.Anchored.Value), fmtCI(L.Anchored), fmtNum(g.EvenSpread),
			fmtNum(accA.Value), fmtNum(L.RStd.Value)})
		if permuted {
			rows[len(rows)-1] = append(rows[len(rows)-1], fmtNum(L.PositionalAnchored.Value), fmtNum(L.CircularAccuracy.Value))
		}
	}
	return header, rows
}

// writeGroupsMarkdown writes the per-group section of report.md (nothing without groups).
func (s *Summary) writeGroupsMarkdown(w io.Writer) {
	if len(s.Groups) == 0 {
		return
	}
	fmt.Fprintf(w, "## By group (letters rule)\n\n")
	h, rows := s.GroupTable()
	writeMarkdownTable(w, h, rows)
	fmt.Fprintf(w, "*A rate* is the share of the group's items answered A; *anchored* is over its items whose answer is not A; "+
		"*even spread* is the anchored rate its errors would give if spread evenly over the wrong letters.")
	if s.Groups[0].Letters.CircularAccuracy != nil {
		fmt.Fprintf(w, " With several orders per item, *anchored, not by content* leaves out the items answered with the same option in every order "+
			"(an A there is the option's content, not its position), and *circular acc.* is the share of items answered right in every order.")
	}
	fmt.Fprintf(w, "\n\n")
}
