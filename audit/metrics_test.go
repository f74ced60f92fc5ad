package audit

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"testing"
)

// rec builds a synthetic record: the item's options shown in order, the answer's position,
// both predictions and the A − correct differences.
func rec(item, perm int, order []int, answer, pred, predLetters int, diff float32, lens ...float32) Record {
	return Record{Item: item, Perm: perm, Order: order, Answer: answer, Pred: pred, PredLetters: predLetters,
		Correct: pred == answer, CorrectLetters: predLetters == answer, LogitDiff: diff, Lens: lens, Variant: "space"}
}

// estimateCheck is an estimate's expected value and count.
type estimateCheck struct {
	name string
	got  Estimate
	want float64
	n    int
}

func checkEstimates(t *testing.T, checks []estimateCheck) {
	t.Helper()
	for _, c := range checks {
		if !near(float64(c.got.Value), c.want) || c.got.N != c.n {
			t.Errorf("%s = %v over %d, want %v over %d", c.name, c.got.Value, c.got.N, c.want, c.n)
		}
	}
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-12
}

// Four three-option items, one order each, worked by hand:
//
//	item answer pred pred_letters diff lens
//	0    A      A    A            0    0, 0
//	1    B      A    A            2    1, 2
//	2    C      C    C           -1    0.5, -1
//	3    B      -    B           -3   -0.5, -3
func TestMetricsByHand(t *testing.T) {
	o := []int{0, 1, 2}
	recs := []Record{
		rec(0, 0, o, 0, 0, 0, 0, 0, 0),
		rec(1, 0, o, 1, 0, 0, 2, 1, 2),
		rec(2, 0, o, 2, 2, 2, -1, 0.5, -1),
		rec(3, 0, o, 1, -1, 1, -3, -0.5, -3),
	}
	m := ComputeMetrics(recs, 0, 1, false)
	checks := []estimateCheck{
		{"vocab accuracy", m.Vocab.Accuracy, 0.5, 4},
		{"vocab selection A", m.Vocab.Selection[0], 0.5, 4},
		{"vocab selection B", m.Vocab.Selection[1], 0, 4},
		{"vocab selection C", m.Vocab.Selection[2], 0.25, 4},
		{"vocab anchored", m.Vocab.Anchored, 1.0 / 3, 3},
		{"vocab accuracy at A", m.Vocab.AccuracyByPosition[0], 1, 1},
		{"vocab accuracy at B", m.Vocab.AccuracyByPosition[1], 0, 2},
		{"vocab accuracy at C", m.Vocab.AccuracyByPosition[2], 1, 1},
		{"vocab rstd", m.Vocab.RStd, math.Sqrt(2.0 / 9), 4}, // recalls 1, 0, 1
		{"letters accuracy", m.Letters.Accuracy, 0.75, 4},
		{"letters selection A", m.Letters.Selection[0], 0.5, 4},
		{"letters selection B", m.Letters.Selection[1], 0.25, 4},
		{"letters selection C", m.Letters.Selection[2], 0.25, 4},
		{"letters anchored", m.Letters.Anchored, 1.0 / 3, 3},
		{"letters accuracy at B", m.Letters.AccuracyByPosition[1], 0.5, 2},
		{"letters rstd", m.Letters.RStd, math.Sqrt(2.0 / 36), 4}, // recalls 1, 0.5, 1
		{"no letter", m.NoLetter, 0.25, 4},
		{"logit diff", m.LogitDiff, -2.0 / 3, 3},
		{"lens 0", m.Lens[0], 1.0 / 3, 3},
		{"lens 1", m.Lens[1], -2.0 / 3, 3},
	}
	checkEstimates(t, checks)
	for _, c := range checks {
		if !math.IsNaN(float64(c.got.Lo)) || !math.IsNaN(float64(c.got.Hi)) {
			t.Errorf("%s: interval without bootstrap", c.name)
		}
	}
	// x = 2 answers A of n = 4, chance 1/3: p̄ = 5/12, z = (1/2 − 1/3)/√(p̄(1−p̄)·2/4).
	want := ZTest{ARate: 0.5, Chance: Num(1.0 / 3), Z: 0.4780914437337575, P: 0.6325851216960414, N: 4}
	for _, got := range []ZTest{m.Vocab.ATest, m.Letters.ATest} {
		if !near(float64(got.ARate), float64(want.ARate)) || !near(float64(got.Chance), float64(want.Chance)) ||
			math.Abs(float64(got.Z-want.Z)) > 1e-12 || math.Abs(float64(got.P-want.P)) > 1e-12 || got.N != 4 {
			t.Errorf("a-test %+v, want %+v", got, want)
		}
	}
	if m.Vocab.Consistency != nil || m.Items != 4 || m.Trials != 4 || m.Variants["space"] != 4 {
		t.Errorf("items %d trials %d consistency %v variants %v", m.Items, m.Trials, m.Vocab.Consistency, m.Variants)
	}
}

// Two two-option items under both rotations:
//
//	item answer order pred  chose
//	0    x      x,y   A     x      right
//	0    x      y,x   A     y      wrong: inconsistent
//	1    y      x,y   B     y      right
//	1    y      y,x   A     y      right: consistent
func TestMetricsPermuted(t *testing.T) {
	recs := []Record{
		rec(0, 0, []int{0, 1}, 0, 0, 0, 0),
		rec(0, 1, []int{1, 0}, 1, 0, 0, 1.5),
		rec(1, 0, []int{0, 1}, 1, 1, 1, -2),
		rec(1, 1, []int{1, 0}, 0, 0, 0, 0),
	}
	m := ComputeMetrics(recs, 0, 1, true)
	checkEstimates(t, []estimateCheck{
		{"accuracy", m.Vocab.Accuracy, 0.75, 4},
		{"selection A", m.Vocab.Selection[0], 0.75, 4},
		{"selection B", m.Vocab.Selection[1], 0.25, 4},
		{"anchored", m.Vocab.Anchored, 0.5, 2},
		{"accuracy at A", m.Vocab.AccuracyByPosition[0], 1, 2},
		{"accuracy at B", m.Vocab.AccuracyByPosition[1], 0.5, 2},
		{"rstd", m.Vocab.RStd, 0.25, 4},
		{"consistency", *m.Vocab.Consistency, 0.5, 2},
		{"letters consistency", *m.Letters.Consistency, 0.5, 2},
		{"circular accuracy", *m.Vocab.CircularAccuracy, 0.5, 2},
		{"positional anchored", *m.Vocab.PositionalAnchored, 0.5, 2},
		{"logit diff", m.LogitDiff, -0.25, 2},
	})
	// x = 3 of 4, chance 1/2: p̄ = 5/8, z = 0.25/√(p̄(1−p̄)/2).
	z := 0.25 / math.Sqrt(0.625*0.375/2)
	if got := m.Vocab.ATest; math.Abs(float64(got.Z)-z) > 1e-12 || math.Abs(float64(got.P)-math.Erfc(z/math.Sqrt2)) > 1e-12 {
		t.Errorf("a-test %+v, want z %v", got, z)
	}
	// An item answered "no letter" under every order is not consistent.
	none := []Record{rec(0, 0, []int{0, 1}, 0, -1, 0, 0), rec(0, 1, []int{1, 0}, 1, -1, 1, 0)}
	if c := ComputeMetrics(none, 0, 1, true); c.Vocab.Consistency.Value != 0 || c.Letters.Consistency.Value != 1 {
		t.Errorf("consistency %v / %v, want 0 / 1", c.Vocab.Consistency.Value, c.Letters.Consistency.Value)
	}
}

// Three three-option items of one group under every rotation, answer z (option 2):
//
//	item  chooses         orders answered A when the answer is not A
//	0     x, the content  1 of 2: only where x stands at A; consistent
//	1     A, the position 2 of 2; inconsistent
//	2     z, right        0 of 2; consistent, right in every order
//
// Following a wrong option's content gives exactly the even-spread anchored rate under
// cyclic orders; only the positional item counts as anchored not by content.
func TestMetricsContentVsPosition(t *testing.T) {
	orders := [][]int{{0, 1, 2}, {2, 0, 1}, {1, 2, 0}}
	var recs []Record
	for item, chooses := range []func(order []int) int{
		func(o []int) int { return slices.Index(o, 0) },
		func([]int) int { return 0 },
		func(o []int) int { return slices.Index(o, 2) },
	} {
		for perm, o := range orders {
			pred := chooses(o)
			r := rec(item, perm, o, slices.Index(o, 2), pred, pred, 0)
			r.Group = "g"
			recs = append(recs, r)
		}
	}
	m := ComputeMetrics(recs, 0, 1, true)
	checkEstimates(t, []estimateCheck{
		{"anchored", m.Letters.Anchored, 3.0 / 6, 6},
		{"positional anchored", *m.Letters.PositionalAnchored, 2.0 / 6, 6},
		{"consistency", *m.Letters.Consistency, 2.0 / 3, 3},
		{"circular accuracy", *m.Letters.CircularAccuracy, 1.0 / 3, 3},
		{"accuracy", m.Letters.Accuracy, 4.0 / 9, 9},
	})
	// The content item's anchored share, 1 of its 2, is its even spread: 2 wrong × 1/2.
	if e := evenSpread(recs[:3]); !near(e, 0.5) {
		t.Errorf("even spread of the content item %v, want 0.5", e)
	}
	s := Summary{Metrics: m}
	h, rows := s.GroupTable()
	if got := h[len(h)-2:]; !reflect.DeepEqual(got, []string{"anchored, not by content", "circular acc."}) || len(rows) != 1 {
		t.Fatalf("group table header ends %q, %d rows", got, len(rows))
	}
	if got := rows[0][len(rows[0])-2:]; !reflect.DeepEqual(got, []string{"0.333", "0.333"}) {
		t.Errorf("group row ends %q, want 0.333 0.333", got)
	}
}

func TestRStdUndefined(t *testing.T) {
	// Every answer at B (the paper's IOI set): one recall, no spread to measure.
	recs := []Record{rec(0, 0, []int{0, 1}, 1, 0, 0, 1), rec(1, 0, []int{0, 1}, 1, 1, 1, -1)}
	m := ComputeMetrics(recs, 100, 1, false)
	if !math.IsNaN(float64(m.Vocab.RStd.Value)) || !math.IsNaN(float64(m.Vocab.AccuracyByPosition[0].Value)) {
		t.Errorf("rstd %v, accuracy at A %v: want null", m.Vocab.RStd.Value, m.Vocab.AccuracyByPosition[0].Value)
	}
	b, err := json.Marshal(m.Vocab.RStd)
	if err != nil || string(b) != `{"value":null,"lo":null,"hi":null,"n":2}` {
		t.Errorf("json %s %v", b, err)
	}
	var back Estimate
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(float64(back.Value)) || back.N != 2 {
		t.Errorf("round trip %+v %v", back, err)
	}
}

func TestPercentileCI(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		vals   []float64
		lo, hi float64
	}{
		{[]float64{5, 1, 4, 2, 3}, 1.1, 4.9}, // h = 0.025·4 = 0.1 and 0.975·4 = 3.9
		{[]float64{nan, 2, nan, 1}, 1.025, 1.975},
		{[]float64{7}, 7, 7},
		{[]float64{nan}, nan, nan},
		{nil, nan, nan},
	}
	for _, tc := range tests {
		lo, hi := percentileCI(tc.vals)
		if !near(lo, tc.lo) || !near(hi, tc.hi) {
			t.Errorf("%v: [%v, %v], want [%v, %v]", tc.vals, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestBootstrap(t *testing.T) {
	var recs []Record
	for i := 0; i < 40; i++ {
		pred := 0
		if i%3 == 0 {
			pred = 1
		}
		recs = append(recs, rec(i, 0, []int{0, 1}, 1, pred, pred, float32(i%5)))
	}
	a := ComputeMetrics(recs, 500, 3, false)
	b := ComputeMetrics(recs, 500, 3, false)
	c := ComputeMetrics(recs, 500, 4, false)
	ja, _ := json.Marshal(a) // NaN ≠ NaN: compare the JSON, where they are null
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("same seed, different intervals")
	}
	if reflect.DeepEqual(a.Vocab.Accuracy, c.Vocab.Accuracy) {
		t.Errorf("different seeds, same interval %+v", a.Vocab.Accuracy)
	}
	acc := a.Vocab.Accuracy
	if !(acc.Lo < acc.Value && acc.Value < acc.Hi) || acc.Lo < 0.1 || acc.Hi > 0.6 {
		t.Errorf("accuracy 14/40 with interval [%v, %v]", acc.Lo, acc.Hi)
	}
	// The resampling unit is the item: one item whose two orders split 1:1 always gives
	// accuracy 1/2, where resampling orders would spread it over [0, 1].
	one := []Record{rec(0, 0, []int{0, 1}, 0, 0, 0, 0), rec(0, 1, []int{1, 0}, 1, 0, 0, 1)}
	m := ComputeMetrics(one, 200, 1, true)
	if m.Vocab.Accuracy.Lo != 0.5 || m.Vocab.Accuracy.Hi != 0.5 {
		t.Errorf("accuracy interval [%v, %v], want [0.5, 0.5]", m.Vocab.Accuracy.Lo, m.Vocab.Accuracy.Hi)
	}
}
