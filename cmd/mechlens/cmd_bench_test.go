package main

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/internal/tensor"
)

func TestBench(t *testing.T) {
	out, errOut, code := runCommand(t, "", "bench", "--model", tiny, "--seq", "1,5", "--runs", "1", "--decode-past", "3", "--cache", "all", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var b benchOutput
	decodeStrict(t, out, &b)
	if len(b.Rows) != 5 || b.Rows[0].Tokens != 1 || b.Rows[1].Mode != "forward+cache" || b.Rows[1].Overhead == 0 || b.Rows[3].Tokens != 5 || b.Rows[4].Mode != "decode" || b.Rows[4].Tokens != 4 || b.Rows[4].GBps <= 0 {
		t.Fatalf("rows %+v", b.Rows)
	}
	for _, r := range b.Rows {
		if !(r.MedianMS > 0 && r.GFLOPS > 0 && r.PeakShare > 0) {
			t.Errorf("row %+v has a zero figure", r)
		}
	}
	if b.Kernel != tensor.Kernel() {
		t.Errorf("kernel %q, want %q", b.Kernel, tensor.Kernel())
	}
	if _, errOut, code := runCommand(t, "", "bench", "--model", tiny, "--seq", "200"); code != 1 || errOut != "mechlens: --seq 200 is longer than the context of 128\n" {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

// --kernel picks the kernel set of every command that loads a model, for that command only.
func TestBenchKernel(t *testing.T) {
	def := tensor.DefaultKernel()
	defer tensor.SetKernel(def)
	for _, k := range []string{"generic", ""} {
		args := []string{"bench", "--model", tiny, "--seq", "2", "--runs", "1", "--decode-past", "-1", "--json"}
		if k != "" {
			args = append(args, "--kernel", k)
		}
		out, errOut, code := runCommand(t, "", args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var b benchOutput
		decodeStrict(t, out, &b)
		if want := cmp.Or(k, def); b.Kernel != want {
			t.Errorf("bench --kernel %q ran %q, want %q", k, b.Kernel, want)
		}
	}
	_, errOut, code := runCommand(t, "", "bench", "--model", tiny, "--kernel", "sse9")
	if want := "available: " + strings.Join(tensor.Kernels(), ", "); code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("--kernel sse9: exit %d, %q; want 2 and the list (%s)", code, errOut, want)
	}
}

func TestDecodeBytes(t *testing.T) {
	// gpt2 after 128 positions: 84,934,656 block weights, 38,597,376 unembedding weights and
	// 2,377,728 cached keys and values (12 layers × 2 × 129 × 768), 4 bytes each; with
	// bfloat16 weights, 2 bytes a weight.
	if got := decodeBytes(gpt2.Presets["gpt2"], tensor.F32, 128); got != 503_639_040 {
		t.Errorf("gpt2 decode step after 128 reads %.0f bytes, want 503,639,040", got)
	}
	if got := decodeBytes(gpt2.Presets["gpt2"], tensor.BF16, 128); got != 256_574_976 {
		t.Errorf("gpt2 decode step after 128 with bf16 weights reads %.0f bytes, want 256,574,976", got)
	}
}

// An output's model names bfloat16 weights, and bfloat16 products on the kernel set that
// makes them (avx512bf16).
func TestBenchWeights(t *testing.T) {
	defer tensor.SetKernel(tensor.DefaultKernel())
	for _, k := range tensor.Kernels() {
		out, errOut, code := runCommand(t, "", "bench", "--model", tiny, "--seq", "2", "--runs", "1", "--weights", "bf16", "--kernel", k, "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var b benchOutput
		decodeStrict(t, out, &b)
		want := ", bf16 weights"
		if k == "avx512bf16" {
			want += " and products"
		}
		if b.Weights != "bf16" || !strings.HasSuffix(b.Model, want) || len(b.Rows) != 2 {
			t.Errorf("bench --weights bf16 --kernel %s: weights %q, model %q (want it to end in %q), %d rows", k, b.Weights, b.Model, want, len(b.Rows))
		}
	}
	_, errOut, code := runCommand(t, "", "bench", "--model", tiny, "--weights", "f16")
	if code != 2 || !strings.Contains(errOut, "--weights") || !strings.Contains(errOut, "bf16") {
		t.Errorf("--weights f16: exit %d, %q", code, errOut)
	}
}

func TestForwardFLOPs(t *testing.T) {
	c := gpt2.Config{NLayers: 1, DModel: 2, DMLP: 8, DVocab: 3}
	// per token 4·D² + 2·D·M = 48, attention 2·1·1·D = 4, unembedding D·V = 6; ×2 flops a MAC.
	if got := forwardFLOPs(c, 1, 0); got != 116 {
		t.Errorf("forwardFLOPs = %g, want 116", got)
	}
	// gpt2 at 256 tokens: the figure the README's table divides by.
	if got := forwardFLOPs(gpt2.Presets["gpt2"], 256, 0); got < 65.5e9 || got > 65.7e9 {
		t.Errorf("gpt2 @256 = %g FLOPs", got)
	}
}

// --runs has no upper bound: a huge count runs until interrupted instead of allocating a
// slot per run first.
func TestTimeMediansHugeRuns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	f := func() error {
		if calls++; calls == 3 {
			cancel()
		}
		return nil
	}
	if _, _, err := timeMedians(ctx, 1<<50, f, f); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want the context's", err)
	}
}
