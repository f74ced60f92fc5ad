package view

import (
	"math"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/lens"
)

func TestPointLabel(t *testing.T) {
	c := gpt2.Config{NLayers: 2}
	for point, want := range map[string]string{
		gpt2.ResidPre(0):  "0 pre",
		gpt2.ResidMid(1):  "1 mid",
		gpt2.ResidPost(1): "final",
		gpt2.ResidPost(0): gpt2.ResidPost(0), // not a lens point: shown as is
	} {
		if got := PointLabel(point, c); got != want {
			t.Errorf("PointLabel(%q) = %q, want %q", point, got, want)
		}
	}
}

func TestPartRowsSortAndTop(t *testing.T) {
	at := &lens.Attribution{Parts: []lens.Part{
		{Name: "embed", Kind: lens.PartEmbed, Layer: -1, Head: -1, Value: 0.5},
		{Name: "L0H1", Kind: lens.PartHead, Layer: 0, Head: 1, Value: -2},
		{Name: "L0.mlp", Kind: lens.PartMLP, Layer: 0, Head: -1, Value: 1},
	}}
	rows := PartRows(at, false, 2)
	want := [][]string{{"L0H1", "head", "0", "1", "-2"}, {"L0.mlp", "mlp", "0", "", "1"}}
	if len(rows.Cells) != len(want) {
		t.Fatalf("got %d rows, want %d", len(rows.Cells), len(want))
	}
	for i := range want {
		for j := range want[i] {
			if rows.Cells[i][j] != want[i][j] {
				t.Errorf("cell %d,%d = %q, want %q", i, j, rows.Cells[i][j], want[i][j])
			}
		}
		if !math.IsNaN(rows.Heat[i][0]) || rows.Heat[i][4] != at.Parts[1+i].Value {
			t.Errorf("row %d heat %v: only the value is shaded", i, rows.Heat[i])
		}
	}
	if got := PartRows(at, false, 0).Cells[0][0]; got != "embed" {
		t.Errorf("unsorted first part %q, want model order (embed)", got)
	}
}
