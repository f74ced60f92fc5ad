package debias

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/mechlens/mechlens/audit"
)

// TraceHeader names TraceRows' columns.
func TraceHeader() []string {
	return []string{"component", "direct", "95% CI", "direct, right", "direct, wrong", "patched", "95% CI", "path: direct", "path: later layers"}
}

func f3(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.3f", x)
}

func ci(s Stat) string {
	if math.IsNaN(s.Lo) {
		return "-"
	}
	return "[" + f3(s.Lo) + ", " + f3(s.Hi) + "]"
}

// TraceRows are the trace's components (heads and MLPs, then the listed neurons) as table
// rows.
func TraceRows(tr *TraceResult) [][]string {
	var rows [][]string
	for _, c := range append(append([]Component{}, tr.Components...), tr.Neurons...) {
		patch, pci, pd, pl := "-", "-", "-", "-"
		if c.Patch != nil {
			patch, pci, pd, pl = f3(c.Patch.Mean), ci(*c.Patch), f3(c.PathDirect.Mean), f3(c.PathLater.Mean)
		}
		rows = append(rows, []string{c.Name, f3(c.Direct.Mean), ci(c.Direct), f3(c.Correct.Mean), f3(c.Incorrect.Mean), patch, pci, pd, pl})
	}
	return rows
}

// MarshalJSON writes a mean over nothing (NaN) as null, as audit does.
func (s Stat) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Mean audit.Num `json:"mean"`
		Lo   audit.Num `json:"lo"`
		Hi   audit.Num `json:"hi"`
		N    int       `json:"n"`
	}{audit.Num(s.Mean), audit.Num(s.Lo), audit.Num(s.Hi), s.N})
}

// UnmarshalJSON reads null back as NaN.
func (s *Stat) UnmarshalJSON(b []byte) error {
	var v struct {
		Mean, Lo, Hi audit.Num
		N            int
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Stat{Mean: float64(v.Mean), Lo: float64(v.Lo), Hi: float64(v.Hi), N: v.N}
	return nil
}

// MarshalJSON writes a rate over nothing (NaN) as null.
func (g GroupStat) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Group      string    `json:"group"`
		N          int       `json:"n"`
		Accuracy   audit.Num `json:"accuracy"`
		ARate      audit.Num `json:"a_rate"`
		Chance     audit.Num `json:"chance"`
		Anchored   audit.Num `json:"anchored"`
		EvenSpread audit.Num `json:"even_spread"`
		AAccuracy  audit.Num `json:"a_accuracy"`
		RStd       audit.Num `json:"rstd"`
	}{g.Group, g.N, audit.Num(g.Accuracy), audit.Num(g.ARate), audit.Num(g.Chance), audit.Num(g.Anchored),
		audit.Num(g.EvenSpread), audit.Num(g.AAccuracy), audit.Num(g.RStd)})
}

// MarshalJSON writes the mean gap of a neuron never flagged (NaN) as null.
func (s ScanNeuron) MarshalJSON() ([]byte, error) {
	type plain ScanNeuron
	return json.Marshal(struct {
		plain
		MeanGap audit.Num `json:"mean_gap"`
	}{plain(s), audit.Num(s.MeanGap)})
}

// ScanRows are the scan's n most often flagged neurons, then those of the n with the largest
// summed gap that are never flagged, as table rows.
func ScanRows(tr *TraceResult, n int) (header []string, rows [][]string) {
	header = []string{"scan: neuron", "flagged", "share of non-anchor items", "mean gap", "among the top", "mean gap there"}
	row := func(s ScanNeuron) []string {
		return []string{fmt.Sprintf("L%dN%d", s.Layer, s.Neuron), fmt.Sprint(s.Flagged), f3(s.Rate), f3(s.MeanGap), fmt.Sprint(s.Top), f3(s.TopGap)}
	}
	for _, s := range tr.Scan[:min(n, len(tr.Scan))] {
		rows = append(rows, row(s))
	}
	for _, s := range tr.ScanByGap[:min(n, len(tr.ScanByGap))] {
		if s.Flagged == 0 {
			rows = append(rows, row(s))
		}
	}
	return header, rows
}
