package tensor

import "sync"

// ParallelFor runs f(0..n-1) on up to Threads() goroutines. Each index is computed by one
// goroutine, in a fixed assignment, so results do not depend on the thread count.
func ParallelFor(n int, f func(i int)) {
	ParallelWorkers(n, func(_, i int) { f(i) })
}

// Workers is how many goroutines ParallelWorkers uses for n items.
func Workers(n int) int { return max(1, min(Threads(), n)) }

// ParallelWorkers is ParallelFor that also tells f which of Workers(n) goroutines runs it,
// so that each can own a scratch buffer.
func ParallelWorkers(n int, f func(worker, i int)) {
	w := Workers(n)
	if w == 1 {
		for i := range n {
			f(0, i)
		}
		return
	}
	var wg sync.WaitGroup
	for g := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += w {
				f(g, i)
			}
		}()
	}
	wg.Wait()
}
