package tensor

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// count runs ParallelWorkers over n items and fails unless each ran once, on a worker
// below Workers(n). It returns how many items each worker ran.
func count(t *testing.T, n int) []int {
	t.Helper()
	hits := make([]atomic.Int32, n)
	per := make([]atomic.Int32, Workers(n))
	ParallelWorkers(n, func(w, i int) {
		hits[i].Add(1)
		per[w].Add(1)
	})
	for i := range hits {
		if h := hits[i].Load(); h != 1 {
			t.Fatalf("n=%d: item %d ran %d times", n, i, h)
		}
	}
	out := make([]int, len(per))
	for w := range per {
		out[w] = int(per[w].Load())
	}
	return out
}

func TestParallelRunsEachItemOnce(t *testing.T) {
	for _, nt := range []int{1, 2, 3, 5} {
		withThreads(nt, func() {
			for _, n := range []int{0, 1, 2, 3, 7, 100, 1000} {
				count(t, n)
			}
		})
	}
}

// Calls from inside a job, and from several goroutines at once, run on their caller while
// the pool is busy: every item still runs once and nothing deadlocks.
func TestParallelNestedAndConcurrent(t *testing.T) {
	withThreads(2, func() {
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var total atomic.Int64
				ParallelFor(20, func(i int) {
					ParallelFor(30, func(j int) { total.Add(int64(i*30 + j)) })
				})
				if got, want := total.Load(), int64(600*599/2); got != want {
					t.Errorf("nested sum %d, want %d", got, want)
				}
			}()
		}
		wg.Wait()
	})
}

// A worker that has gone to sleep after spinWait wakes for the next job and takes part.
func TestParallelWorkerWakesFromSleep(t *testing.T) {
	withThreads(2, func() {
		count(t, 2)
		time.Sleep(5 * spinWait)
		per := make([]atomic.Int32, 2)
		ParallelWorkers(50, func(w, i int) {
			per[w].Add(1)
			time.Sleep(2 * time.Millisecond)
		})
		if per[1].Load() == 0 {
			t.Error("the sleeping worker never joined a 100 ms job")
		}
	})
}
