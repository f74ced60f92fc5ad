package tensor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func cpuRate(f func(), flops float64, reps int) string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var rs []float64
	f()
	for range reps {
		t0 := threadCPU()
		f()
		rs = append(rs, flops/float64(threadCPU()-t0))
	}
	sort.Float64s(rs)
	return fmt.Sprintf("median %.1f max %.1f", rs[len(rs)/2], rs[len(rs)-1])
}

func TestZZExp(t *testing.T) {
	const M, K, N = 256, 768, 3072
	r := rand.New(rand.NewPCG(1, 1))
	a, p, bias := randSlice(r, M*K), Pack(randSlice(r, K*N), K, N), randSlice(r, N)
	c := make([]float32, M*N)
	threads = 1
	t.Logf("peak   %s", cpuRate(func() { fmaPeak(1 << 16) }, 192<<16, 20))
	for _, kc := range []int{256, 320, 384, 512} {
		for _, mc := range []int{144, 288} {
			blockK, blockM = kc, mc
			t.Logf("kc %d mc %d matmul %s", kc, mc, cpuRate(func() { MatMul(c, a, M, p, bias) }, 2*M*N*K, 25))
		}
	}
}

func TestZZTile(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const kc = 256
	A := randSlice(r, 48*kc*6) // 48 A micro-panels: 288 KB
	B := randSlice(r, 48*kc*16)
	C := make([]float32, 48*6*16*48)
	flops := float64(2 * 6 * 16 * kc * 48)
	t.Logf("L1 both   %s", cpuRate(func() {
		for i := 0; i < 48; i++ {
			impl.tile(6, kc, A, B, C, 16, nil, initLoad)
		}
	}, flops, 50))
	t.Logf("A stream  %s", cpuRate(func() {
		for i := 0; i < 48; i++ {
			impl.tile(6, kc, A[i*kc*6:], B, C, 16, nil, initLoad)
		}
	}, flops, 50))
	t.Logf("B stream  %s", cpuRate(func() {
		for i := 0; i < 48; i++ {
			impl.tile(6, kc, A, B[i*kc*16:], C, 16, nil, initLoad)
		}
	}, flops, 50))
	t.Logf("B stream 12: %s", cpuRate(func() {
		for i := 0; i < 48; i++ {
			impl.tile(6, kc, A, B[(i%12)*kc*16:], C, 16, nil, initLoad)
		}
	}, flops, 50))
	t.Logf("C stride  %s", cpuRate(func() {
		for i := 0; i < 48; i++ {
			impl.tile(6, kc, A, B, C[i*16:], 48*16, nil, initLoad)
		}
	}, flops, 50))
}
