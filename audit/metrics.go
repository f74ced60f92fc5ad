package audit

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
)

// Num is a float64 that JSON writes as null when it is not a number (a rate over nothing).
type Num float64

// MarshalJSON implements json.Marshaler.
func (x Num) MarshalJSON() ([]byte, error) {
	f := float64(x)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (x *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*x = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	*x = Num(f)
	return err
}

// Estimate is a statistic with its 95% bootstrap confidence interval.
type Estimate struct {
	Value Num `json:"value"`
	Lo    Num `json:"lo"` // 2.5th percentile over bootstrap resamples of items
	Hi    Num `json:"hi"` // 97.5th percentile
	N     int `json:"n"`  // the denominator: trials or items the value is over
}

// ZTest compares the rate of answering A with chance.
type ZTest struct {
	ARate  Num `json:"a_rate"` // share of trials answered A
	Chance Num `json:"chance"` // mean over trials of 1/(number of options)
	Z      Num `json:"z"`
	P      Num `json:"p"` // two-sided
	N      int `json:"n"` // trials
}

// RuleMetrics are the metrics under one prediction rule.
type RuleMetrics struct {
	Accuracy Estimate `json:"accuracy"`
	// Selection[k] is the share of trials showing position k that are answered k.
	Selection []Estimate `json:"selection"`
	// Anchored is the share of trials whose answer is not A that are answered A.
	Anchored Estimate `json:"anchored"`
	ATest    ZTest    `json:"a_test"`
	// AccuracyByPosition[k] is the accuracy over trials whose answer is at position k (the
	// recall of position k).
	AccuracyByPosition []Estimate `json:"accuracy_by_position"`
	// RStd is the population standard deviation of AccuracyByPosition over the positions
	// that hold answers (Zheng et al. 2023); null with fewer than two such positions.
	RStd Estimate `json:"rstd"`
	// Consistency is the share of items answered with the same option (by content) under
	// every order; present only when permuting.
	Consistency *Estimate `json:"consistency,omitempty"`
	// CircularAccuracy is the share of items answered correctly in every order (with
	// cyclic orders, MMBench's CircularEval): what the model knows wherever the answer
	// stands, without the hits the anchor's position lends it; present only when permuting.
	CircularAccuracy *Estimate `json:"circular_accuracy,omitempty"`
	// PositionalAnchored is Anchored leaving out the items answered with the same option in
	// every order: an A there follows the option's content (the model's belief, right or
	// wrong), not the position; present only when permuting.
	PositionalAnchored *Estimate `json:"positional_anchored,omitempty"`
}

// Metrics is everything computed from a set of records.
type Metrics struct {
	Items  int `json:"items"`
	Trials int `json:"trials"` // item × order pairs scored
	// Vocab uses the paper's rule (argmax over the whole vocabulary); Letters the argmax
	// over the options' letters only.
	Vocab   RuleMetrics `json:"vocab"`
	Letters RuleMetrics `json:"letters"`
	// NoLetter is the share of trials whose whole-vocabulary argmax is no option's letter.
	NoLetter Estimate `json:"no_letter"`
	// LogitDiff is the mean of logit(A) − logit(correct) over trials whose answer is not A.
	LogitDiff Estimate `json:"logit_diff"`
	// Lens[l] is that mean read after block l through ln_final and W_U.
	Lens []Estimate `json:"lens"`
	// Variants counts the letter spellings chosen ("space", "bare").
	Variants map[string]int `json:"variants"`
	// Groups are the same metrics per group when the items carry one (else absent).
	Groups []GroupMetrics `json:"groups,omitempty"`
}

// ruleAgg is one item's (or one resample's) counts under one rule.
type ruleAgg struct {
	hit        float64
	sel        []float64 // [K] trials answered at position k
	hitAt      []float64 // [K] correct trials whose answer is at k
	anchored   float64   // trials whose answer is not A answered A
	consistent float64   // 1 when every order got the same option (items with several orders)
	circular   float64   // 1 when every order was answered correctly (items with several orders)
	positional float64   // anchored, counted only in items not answered consistently
}

// agg is the counts of one item, or their weighted sum over a sample of items.
type agg struct {
	items    float64
	multi    float64 // items with more than one order
	trials   float64
	chance   float64   // Σ 1/n over trials
	avail    []float64 // [K] trials showing position k
	atPos    []float64 // [K] trials whose answer is at k
	notA     float64   // trials whose answer is not at position 0
	noLetter float64
	diff     float64   // Σ LogitDiff over trials whose answer is not A
	lens     []float64 // [L] Σ Lens over the same trials
	rule     [2]ruleAgg
}

func newAgg(K, L int) agg {
	a := agg{avail: make([]float64, K), atPos: make([]float64, K), lens: make([]float64, L)}
	for r := range a.rule {
		a.rule[r] = ruleAgg{sel: make([]float64, K), hitAt: make([]float64, K)}
	}
	return a
}

func (a *agg) add(b *agg, w float64) {
	a.items += w * b.items
	a.multi += w * b.multi
	a.trials += w * b.trials
	a.chance += w * b.chance
	a.notA += w * b.notA
	a.noLetter += w * b.noLetter
	a.diff += w * b.diff
	axpy(a.avail, b.avail, w)
	axpy(a.atPos, b.atPos, w)
	axpy(a.lens, b.lens, w)
	for r := range a.rule {
		x, y := &a.rule[r], &b.rule[r]
		x.hit += w * y.hit
		x.anchored += w * y.anchored
		x.consistent += w * y.consistent
		x.circular += w * y.circular
		x.positional += w * y.positional
		axpy(x.sel, y.sel, w)
		axpy(x.hitAt, y.hitAt, w)
	}
}

func axpy(dst, src []float64, w float64) {
	for i, v := range src {
		dst[i] += w * v
	}
}

// itemAggs groups records (sorted by item, then order) into one agg per item.
func itemAggs(recs []Record, K, L int) []agg {
	var out []agg
	for lo := 0; lo < len(recs); {
		hi := lo
		for hi < len(recs) && recs[hi].Item == recs[lo].Item {
			hi++
		}
		a := newAgg(K, L)
		a.items = 1
		if hi-lo > 1 {
			a.multi = 1
		}
		chosen := [2]int{-2, -2} // option (by content) chosen so far; -1: inconsistent
		missed := [2]bool{}      // some order answered wrongly
		for _, r := range recs[lo:hi] {
			n := len(r.Order)
			a.trials++
			a.chance += 1 / float64(n)
			for k := 0; k < n; k++ {
				a.avail[k]++
			}
			a.atPos[r.Answer]++
			if r.Pred < 0 {
				a.noLetter++
			}
			if r.Answer != 0 {
				a.notA++
				a.diff += float64(r.LogitDiff)
				for l, v := range r.Lens {
					a.lens[l] += float64(v)
				}
			}
			for ri, pred := range [2]int{r.Pred, r.PredLetters} {
				ra := &a.rule[ri]
				option := -1
				if pred >= 0 {
					ra.sel[pred]++
					option = r.Order[pred]
				}
				if pred == r.Answer {
					ra.hit++
					ra.hitAt[r.Answer]++
				} else {
					missed[ri] = true
				}
				if r.Answer != 0 && pred == 0 {
					ra.anchored++
				}
				switch {
				case chosen[ri] == -2:
					chosen[ri] = option
				case chosen[ri] != option:
					chosen[ri] = -1
				}
			}
		}
		for ri := range a.rule {
			ra := &a.rule[ri]
			consistent := a.multi == 1 && chosen[ri] >= 0
			if consistent {
				ra.consistent = 1
			} else {
				ra.positional = ra.anchored
			}
			if a.multi == 1 && !missed[ri] {
				ra.circular = 1
			}
		}
		out = append(out, a)
		lo = hi
	}
	return out
}

// point is the statistics of one sample of items.
type point struct {
	acc, anch, rstd, cons [2]float64
	circ, posAnch         [2]float64
	sel, accAt            [2][]float64
	noLetter, diff        float64
	lens                  []float64
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func (a *agg) point() point {
	K := len(a.avail)
	p := point{noLetter: ratio(a.noLetter, a.trials), diff: ratio(a.diff, a.notA), lens: make([]float64, len(a.lens))}
	for l, v := range a.lens {
		p.lens[l] = ratio(v, a.notA)
	}
	for r := range a.rule {
		ra := &a.rule[r]
		p.acc[r] = ratio(ra.hit, a.trials)
		p.anch[r] = ratio(ra.anchored, a.notA)
		p.cons[r] = ratio(ra.consistent, a.multi)
		p.circ[r] = ratio(ra.circular, a.multi)
		p.posAnch[r] = ratio(ra.positional, a.notA)
		p.sel[r] = make([]float64, K)
		p.accAt[r] = make([]float64, K)
		var recalls []float64
		for k := 0; k < K; k++ {
			p.sel[r][k] = ratio(ra.sel[k], a.avail[k])
			p.accAt[r][k] = ratio(ra.hitAt[k], a.atPos[k])
			if a.atPos[k] > 0 {
				recalls = append(recalls, p.accAt[r][k])
			}
		}
		p.rstd[r] = stdDev(recalls)
	}
	return p
}

// stdDev is the population standard deviation; NaN for fewer than two values.
func stdDev(x []float64) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	return math.Sqrt(ss / float64(len(x)))
}

// zTest is the two-proportion z-test of the A rate against chance: the model's x answers A
// out of n trials against a chance selector's expected n·π₀ out of n, where π₀ is the mean
// over trials of 1/(options). Pooled p̄ = (x/n + π₀)/2, z = (x/n − π₀)/√(p̄(1−p̄)·2/n),
// p = erfc(|z|/√2).
func zTest(x, n, chance float64) ZTest {
	t := ZTest{N: int(n), ARate: Num(math.NaN()), Chance: Num(math.NaN()), Z: Num(math.NaN()), P: Num(math.NaN())}
	if n == 0 {
		return t
	}
	pa, p0 := x/n, chance/n
	t.ARate, t.Chance = Num(pa), Num(p0)
	pool := (pa + p0) / 2
	se := math.Sqrt(pool * (1 - pool) * 2 / n)
	switch {
	case pa == p0:
		t.Z, t.P = 0, 1
	case se == 0:
		t.Z, t.P = Num(math.Copysign(math.Inf(1), pa-p0)), 0
	default:
		z := (pa - p0) / se
		t.Z, t.P = Num(z), Num(math.Erfc(math.Abs(z)/math.Sqrt2))
	}
	return t
}

// ComputeMetrics computes every metric of records sorted by item then order, with 95%
// bootstrap intervals from boot resamples of items (with replacement, so that the orders of
// one item stay together), drawn from seed. permuted adds consistency, circular
// accuracy and the positional anchored rate.
func ComputeMetrics(recs []Record, boot int, seed uint64, permuted bool) Metrics {
	m, _ := ComputeMetricsContext(context.Background(), recs, boot, seed, permuted)
	return m
}

// ComputeMetricsContext is ComputeMetrics that stops with ctx's error when ctx is cancelled
// during the bootstrap (a large audit's takes seconds).
func ComputeMetricsContext(ctx context.Context, recs []Record, boot int, seed uint64, permuted bool) (Metrics, error) {
	m, err := computeMetrics(ctx, recs, boot, seed, permuted)
	if err != nil {
		return m, err
	}
	m.Groups, err = groupMetrics(ctx, recs, boot, seed, permuted)
	return m, err
}

// computeMetrics is ComputeMetricsContext without the per-group split.
func computeMetrics(ctx context.Context, recs []Record, boot int, seed uint64, permuted bool) (Metrics, error) {
	K, L := 0, 0
	m := Metrics{Variants: map[string]int{}}
	for _, r := range recs {
		K = max(K, len(r.Order))
		L = max(L, len(r.Lens))
		m.Variants[r.Variant]++
	}
	items := itemAggs(recs, K, L)
	total := newAgg(K, L)
	for i := range items {
		total.add(&items[i], 1)
	}
	p0 := total.point()
	boots := make([]point, boot)
	rng := rand.New(rand.NewPCG(seed, 0xb0075)) // stream constant: any fixed value
	w := make([]float64, len(items))
	for b := range boots {
		if b%64 == 0 {
			if err := ctx.Err(); err != nil {
				return Metrics{}, err
			}
		}
		clear(w)
		for range items {
			w[rng.IntN(len(items))]++
		}
		s := newAgg(K, L)
		for i := range items {
			if w[i] > 0 {
				s.add(&items[i], w[i])
			}
		}
		boots[b] = s.point()
	}
	vals := make([]float64, boot)
	est := func(get func(p *point) float64, n float64) Estimate {
		for b := range boots {
			vals[b] = get(&boots[b])
		}
		lo, hi := percentileCI(vals)
		return Estimate{Value: Num(get(&p0)), Lo: Num(lo), Hi: Num(hi), N: int(n)}
	}
	m.Items, m.Trials = int(total.items), int(total.trials)
	m.NoLetter = est(func(p *point) float64 { return p.noLetter }, total.trials)
	m.LogitDiff = est(func(p *point) float64 { return p.diff }, total.notA)
	m.Lens = make([]Estimate, L)
	for l := range m.Lens {
		m.Lens[l] = est(func(p *point) float64 { return p.lens[l] }, total.notA)
	}
	for r, rm := range []*RuleMetrics{&m.Vocab, &m.Letters} {
		rm.Accuracy = est(func(p *point) float64 { return p.acc[r] }, total.trials)
		rm.Anchored = est(func(p *point) float64 { return p.anch[r] }, total.notA)
		rm.RStd = est(func(p *point) float64 { return p.rstd[r] }, total.trials)
		rm.Selection = make([]Estimate, K)
		rm.AccuracyByPosition = make([]Estimate, K)
		for k := 0; k < K; k++ {
			rm.Selection[k] = est(func(p *point) float64 { return p.sel[r][k] }, total.avail[k])
			rm.AccuracyByPosition[k] = est(func(p *point) float64 { return p.accAt[r][k] }, total.atPos[k])
		}
		if permuted {
			c := est(func(p *point) float64 { return p.cons[r] }, total.multi)
			circ := est(func(p *point) float64 { return p.circ[r] }, total.multi)
			pos := est(func(p *point) float64 { return p.posAnch[r] }, total.notA)
			rm.Consistency, rm.CircularAccuracy, rm.PositionalAnchored = &c, &circ, &pos
		}
		if K > 0 {
			rm.ATest = zTest(total.rule[r].sel[0], total.trials, total.chance)
		} else {
			rm.ATest = zTest(0, 0, 0)
		}
	}
	return m, nil
}

// percentileCI returns the 2.5th and 97.5th percentiles (linear interpolation between
// order statistics, Hyndman–Fan type 7) of the values that are numbers; NaN when none are.
func percentileCI(vals []float64) (lo, hi float64) {
	v := make([]float64, 0, len(vals))
	for _, x := range vals {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	sort.Float64s(v)
	q := func(p float64) float64 {
		h := p * float64(len(v)-1)
		i := int(math.Floor(h))
		if i+1 >= len(v) {
			return v[len(v)-1]
		}
		return v[i] + (h-float64(i))*(v[i+1]-v[i])
	}
	return q(0.025), q(0.975)
}
