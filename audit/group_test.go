package audit

import (
	"bytes"
	"strings"
	"testing"
)

// Per-group metrics are the metrics of each group's records, and even spread is counted by
// hand.
func TestGroupMetrics(t *testing.T) {
	recs := []Record{
		rec(0, 0, []int{0, 1}, 1, 0, 0, 1),       // U: answer B, answered A
		rec(1, 0, []int{0, 1, 2}, 2, 0, 0, 1),    // U: answer C, answered A
		rec(2, 0, []int{0, 1, 2, 3}, 0, 0, 0, 0), // U: answer A, answered A
		rec(3, 0, []int{0, 1}, 1, 1, 1, -2),      // F: right
		rec(4, 0, []int{0, 1, 2}, 0, 0, 0, 0),    // F: right
	}
	for i := range recs {
		recs[i].Group = "U"
		if i >= 3 {
			recs[i].Group = "F"
		}
	}
	m := ComputeMetrics(recs, 0, 1, false)
	if len(m.Groups) != 2 || m.Groups[0].Group != "F" || m.Groups[1].Group != "U" {
		t.Fatalf("groups %+v, want F then U", m.Groups)
	}
	f, u := m.Groups[0], m.Groups[1]
	if f.Items != 2 || u.Items != 3 || f.Letters.Accuracy.Value != 1 || !near(float64(u.Letters.Accuracy.Value), 1.0/3) {
		t.Errorf("items %d/%d, accuracy %v/%v; want 2/3, 1 and 1/3", f.Items, u.Items, f.Letters.Accuracy.Value, u.Letters.Accuracy.Value)
	}
	if u.Letters.Selection[0].Value != 1 || u.Letters.Anchored.Value != 1 {
		t.Errorf("U: A rate %v, anchored %v; want 1, 1", u.Letters.Selection[0].Value, u.Letters.Anchored.Value)
	}
	// Two wrong not-A trials of 2 and 3 options: (1/1 + 1/2) / 2.
	if !near(float64(u.EvenSpread), 0.75) || f.EvenSpread != 0 {
		t.Errorf("even spread U %v F %v; want 0.75 and 0", u.EvenSpread, f.EvenSpread)
	}
	if m.Groups[0].Groups != nil {
		t.Errorf("a group's metrics hold groups again")
	}
	s := &Summary{Metrics: m}
	var b bytes.Buffer
	s.writeGroupsMarkdown(&b)
	if !strings.Contains(b.String(), "| U | 3 | 0.333 |") {
		t.Errorf("report lacks the U row:\n%s", b.String())
	}
	if ComputeMetrics(recs[:0], 0, 1, false).Groups != nil {
		t.Errorf("groups without records")
	}
}

// A JSON array on one line gives each item its own id, and "group" is read.
func TestReadArrayIDsAndGroups(t *testing.T) {
	ds, err := Read([]byte(`[{"question": "q1", "choices": ["a", "b"], "answer": 0, "group": "Fq"}, {"question": "q2", "choices": ["a", "b"], "answer": "B"}]`), false)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Items[0].ID != "item 1" || ds.Items[1].ID != "item 2" || ds.Items[0].Group != "Fq" || ds.Items[1].Group != "" {
		t.Errorf("items %+v: want ids item 1, item 2 and group Fq on the first", ds.Items)
	}
}
