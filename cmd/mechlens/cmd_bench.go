package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/procstat"
	"github.com/mechlens/mechlens/internal/tensor"
)

func init() { register(newBenchCommand()) }

type benchRow struct {
	Tokens    int     `json:"tokens"`
	Mode      string  `json:"mode"` // "forward", "forward+cache" or "decode"
	MedianMS  float64 `json:"median_ms"`
	TokensPS  float64 `json:"tokens_per_s"`
	GFLOPS    float64 `json:"gflops"`
	PeakShare float64 `json:"peak_share"` // GFLOP/s over threads × one core's measured peak
	Runs      int     `json:"runs"`
	// Overhead (forward+cache rows): the median over interleaved pairs of runs of the
	// time with the cache over the time without, minus 1.
	Overhead float64 `json:"cache_overhead,omitempty"`
	// GBps (decode rows): weights and cached keys and values read per step over its time;
	// a decode step is bound by memory bandwidth, not arithmetic.
	GBps float64 `json:"gb_per_s,omitempty"`
}

type benchOutput struct {
	Model     string     `json:"model"`
	Kernel    string     `json:"kernel"`
	Weights   string     `json:"weights"` // how the weight matrices are stored: "f32" or "bf16"
	Threads   int        `json:"threads"`
	PeakCore  float64    `json:"peak_gflops_per_core"`
	PeakRSSMB float64    `json:"peak_rss_mb"`
	LoadRSSMB float64    `json:"loaded_rss_mb"` // resident memory once the model is loaded
	LoadMS    float64    `json:"load_ms"`
	Rows      []benchRow `json:"rows"`
}

func newBenchCommand() *cli.Command {
	c := cli.NewCommand("bench", "bench [--model random:gpt2] [--seq 1,16,64,256,1024] [--cache all] [--threads N]", "Time the forward pass and the KV-cache decode step")
	c.Long = `Times a full forward pass (logits at every position, as PyTorch's reference figures do)
for each sequence length: the median of --runs runs after one warm-up, in ms, tokens/s and
GFLOP/s, with the share of the peak measured on this machine (per core × threads: the FMA
peak, or VDPBF16PS's with --weights bf16 on the avx512bf16 kernel). With
--cache all, each length is also timed caching every activation (TransformerLens's
run_with_cache), the two alternating run by run so that both see the same machine load;
its overhead is the median of the per-pair ratios. The decode row is the median step of
one generation continuing --decode-past cached positions (its tokens column: the position
of the first timed step). peak_rss_mb is the process's peak resident memory, loading
included; loaded_rss_mb its resident memory right after loading (Linux only).`
	c.Example = `  $ mechlens bench --model random:gpt2 --seq 64,256 --threads 2
  $ mechlens bench --model random:gpt2-xl --seq 1 --runs 3 --json`
	mf := addModelFlags(c, "")
	c.Flags.Lookup("model").Usage = "model: a local folder, a hub name, random:NAME, or mechlens-organism for the embedded model (default random:gpt2)"
	o := &benchOptions{}
	cli.ListVar(c.Flags, &o.seqs, "seq", "1,16,64,256,1024", nil, "comma-separated sequence lengths")
	cli.ChoiceVar(c.Flags, &o.cache, "cache", "", []string{"all"}, `"all" to cache every activation as well`)
	cli.IntVar(c.Flags, &o.runs, "runs", 7, 1, cli.NoLimit, "timed runs per length (median reported)")
	cli.IntVar(c.Flags, &o.past, "decode-past", 128, -1, cli.NoLimit, "cached positions before the timed decode step (-1: no decode row; the default shrinks to fit a short context)")
	format := cli.OutputFlags(c)
	c.Run = func(ctx context.Context, io *cli.IO, args []string) error {
		opts := *o
		opts.model, opts.pastGiven = *mf, flagSet(c.Flags, "decode-past")
		var err error
		if opts.format, err = format(); err != nil {
			return err
		}
		if len(args) > 0 {
			return cli.Usagef("bench takes no argument")
		}
		return runBench(ctx, io, opts)
	}
	return c
}

// benchOptions are mechlens bench's flags.
type benchOptions struct {
	model      modelFlags
	seqs       []string
	cache      string
	runs, past int
	pastGiven  bool // --decode-past was given: it is not shrunk to fit the context
	format     cli.Format
}

// runBench times the model of o (default random:gpt2) and prints the table.
func runBench(ctx context.Context, io *cli.IO, o benchOptions) error {
	var lengths []int
	for _, s := range o.seqs {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return cli.Usagef("--seq: %q is not a positive length", s)
		}
		lengths = append(lengths, n)
	}
	mf := &o.model
	if mf.spec == "" {
		mf.spec = "random:gpt2"
	}
	t0 := time.Now()
	m, err := mf.open(ctx, io)
	if err != nil {
		return err
	}
	out := benchOutput{Model: mf.name(), Kernel: tensor.Kernel(), Weights: m.WeightType().String(), Threads: tensor.Threads(), LoadMS: ms(time.Since(t0)), LoadRSSMB: procstat.RSSMiB()}
	out.PeakCore = tensor.PeakGFLOPS(200*time.Millisecond, m.WeightType())
	peak := out.PeakCore * float64(out.Threads)
	for _, T := range lengths {
		if T > m.Config.NCtx {
			return fmt.Errorf("--seq %d is longer than the context of %d", T, m.Config.NCtx)
		}
		ids := benchIDs(m, T)
		// Each result is released, as a loop of runs would (PyTorch's allocator recycles
		// a freed tensor's memory the same way).
		pass := func(ro gpt2.RunOptions) func() error {
			return func() error {
				res, err := m.Run([][]int{ids}, ro)
				if err == nil {
					res.Release()
				}
				return err
			}
		}
		passes := []func() error{pass(gpt2.RunOptions{Logits: gpt2.LogitsAll})}
		if o.cache == "all" {
			passes = append(passes, pass(gpt2.RunOptions{Logits: gpt2.LogitsAll, Cache: cacheAll(m)}))
		}
		med, ratio, err := timeMedians(ctx, o.runs, passes...)
		if err != nil {
			return err
		}
		gf := forwardFLOPs(m.Config, T, 0) / 1e9
		out.Rows = append(out.Rows, benchRow{T, "forward", ms(med[0]), float64(T) / med[0].Seconds(), gf / med[0].Seconds(), gf / med[0].Seconds() / peak, o.runs, 0, 0})
		if len(med) > 1 {
			out.Rows = append(out.Rows, benchRow{T, "forward+cache", ms(med[1]), float64(T) / med[1].Seconds(), gf / med[1].Seconds(), gf / med[1].Seconds() / peak, o.runs, ratio - 1, 0})
		}
	}
	past := o.past
	if !o.pastGiven {
		past = max(0, min(past, m.Config.NCtx-o.runs-1))
	}
	if past >= 0 {
		r, err := benchDecode(ctx, m, past, o.runs, peak)
		if err != nil {
			return err
		}
		out.Rows = append(out.Rows, r)
	}
	out.PeakRSSMB = procstat.PeakRSSMiB()
	return printBench(io, o.format, out)
}

// benchDecode times runs decode steps after past cached positions (peak: the peak of the
// threads, in GFLOP/s).
func benchDecode(ctx context.Context, m *gpt2.Model, past, runs int, peak float64) (benchRow, error) {
	if past+runs+1 > m.Config.NCtx {
		return benchRow{}, fmt.Errorf("--decode-past %d leaves no room for %d decode steps in the context of %d", past, runs+1, m.Config.NCtx)
	}
	kv := m.NewKVCache()
	if past > 0 {
		if _, err := m.Run([][]int{benchIDs(m, past)}, gpt2.RunOptions{Logits: gpt2.LogitsNone, Past: []*gpt2.KVCache{kv}}); err != nil {
			return benchRow{}, err
		}
	}
	// Consecutive steps of one generation, each adding a position to the cache.
	kv.Grow(runs + 1)
	med, _, err := timeMedians(ctx, runs, func() error {
		res, err := m.Run([][]int{{1}}, gpt2.RunOptions{Logits: gpt2.LogitsLast, Past: []*gpt2.KVCache{kv}})
		if err == nil {
			res.Release()
		}
		return err
	})
	if err != nil {
		return benchRow{}, err
	}
	gf := forwardFLOPs(m.Config, 1, past) / med[0].Seconds() / 1e9
	gb := decodeBytes(m.Config, m.WeightType(), past) / med[0].Seconds() / 1e9
	return benchRow{past + 1, "decode", ms(med[0]), 1 / med[0].Seconds(), gf, gf / peak, runs, 0, gb}, nil
}

// printBench prints out as JSON, CSV or a table under a line on the machine and the load.
func printBench(io *cli.IO, f cli.Format, out benchOutput) error {
	if f == cli.JSON {
		return cli.WriteJSON(io.Out, out)
	}
	rows := &cli.Rows{Header: []string{"tokens", "mode", "median ms", "tokens/s", "GFLOP/s", "of peak", "cache overhead", "GB/s read"}}
	for _, r := range out.Rows {
		over, gb := "", ""
		if r.Mode == "forward+cache" {
			over = fmt.Sprintf("%+.1f%%", 100*r.Overhead)
		}
		if r.Mode == "decode" {
			gb = fmt.Sprintf("%.1f", r.GBps)
		}
		rows.Add(r.Tokens, r.Mode, fmt.Sprintf("%.2f", r.MedianMS), fmt.Sprintf("%.0f", r.TokensPS), fmt.Sprintf("%.1f", r.GFLOPS), fmt.Sprintf("%.0f%%", 100*r.PeakShare), over, gb)
	}
	if f == cli.CSV {
		return rows.WriteCSV(io.Out)
	}
	model := out.Model // names weights other than float32 (modelFlags.name)
	if out.Weights == tensor.F32.String() {
		model += ", f32 weights"
	}
	fmt.Fprintf(io.Out, "%s, kernel %s, %d threads, peak %.1f GFLOP/s per core, load %.0f ms, RSS %.0f MB loaded, %.0f MB peak\n",
		model, out.Kernel, out.Threads, out.PeakCore, out.LoadMS, out.LoadRSSMB, out.PeakRSSMB)
	return rows.WriteTable(io.Out, false)
}

// benchIDs is a fixed token sequence of length T.
func benchIDs(m *gpt2.Model, T int) []int {
	ids := make([]int, T)
	for i := range ids {
		ids[i] = (i*7919 + 13) % m.Config.DVocab
	}
	return ids
}

func cacheAll(m *gpt2.Model) []string {
	var names []string
	for _, n := range gpt2.HookNames(m.Config) {
		if n != gpt2.HookLogits && !strings.HasSuffix(n, "attn.hook_result") {
			names = append(names, n)
		}
	}
	return names
}

// forwardFLOPs counts the multiply-adds (×2) of T new tokens after past cached ones: the
// block matrices (12·D² a token with d_mlp = 4D), attention as computed (T×(past+T) scores
// and as many pattern·v products per layer), and the unembedding of every new position.
func forwardFLOPs(c gpt2.Config, T, past int) float64 {
	D, M, L, V := float64(c.DModel), float64(c.DMLP), float64(c.NLayers), float64(c.DVocab)
	t, tk := float64(T), float64(past+T)
	perToken := 4*D*D + 2*D*M
	attn := 2 * t * tk * D
	return 2 * (L*(t*perToken+attn) + t*D*V)
}

// decodeBytes counts what one decode step after past positions reads: every block matrix
// and the unembedding once (stored as t), and the cached keys and values of past+1
// positions (float32).
func decodeBytes(c gpt2.Config, t tensor.WeightType, past int) float64 {
	D, M, L, V := float64(c.DModel), float64(c.DMLP), float64(c.NLayers), float64(c.DVocab)
	w := 4.0
	if t == tensor.BF16 {
		w = 2
	}
	return w*(L*(4*D*D+2*D*M)+V*D) + 4*L*2*float64(past+1)*D
}

// timeMedians warms up each f once, then runs them in turn n times, and returns each one's
// median duration and the median over the n rounds of the second's time over the first's.
func timeMedians(ctx context.Context, n int, fs ...func() error) ([]time.Duration, float64, error) {
	for _, f := range fs {
		if err := f(); err != nil {
			return nil, 0, err
		}
	}
	d := make([][]time.Duration, len(fs)) // [f][round]
	// Grown run by run: --runs has no upper bound, and a large one must stop at the first
	// interrupt, not in an allocation.
	var ratios []float64
	for i := 0; i < n; i++ {
		for j, f := range fs {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			t0 := time.Now()
			if err := f(); err != nil {
				return nil, 0, err
			}
			d[j] = append(d[j], time.Since(t0))
		}
		ratio := 0.0
		if len(fs) > 1 {
			ratio = d[1][i].Seconds() / d[0][i].Seconds()
		}
		ratios = append(ratios, ratio)
	}
	med := make([]time.Duration, len(fs))
	for j := range d {
		slices.Sort(d[j])
		med[j] = d[j][n/2]
	}
	slices.Sort(ratios)
	return med, ratios[n/2], nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
