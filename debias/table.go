package debias

import (
	"fmt"
	"math"
)

// TraceHeader names TraceRows' columns.
func TraceHeader() []string {
	return []string{"component", "direct", "95% CI", "direct, right", "direct, wrong", "patched", "95% CI", "through later layers"}
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
		patch, pci, ind := "-", "-", "-"
		if c.Patch != nil {
			patch, pci = f3(c.Patch.Mean), ci(*c.Patch)
		}
		if c.Indirect != nil {
			ind = f3(*c.Indirect)
		}
		rows = append(rows, []string{c.Name, f3(c.Direct.Mean), ci(c.Direct), f3(c.Correct.Mean), f3(c.Incorrect.Mean), patch, pci, ind})
	}
	return rows
}
