package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ParallelFor runs f(0..n-1) on up to Threads() goroutines. Every index is computed exactly
// once; f must not depend on which goroutine runs it.
func ParallelFor(n int, f func(i int)) {
	ParallelWorkers(n, func(_, i int) { f(i) })
}

// Workers is how many goroutines ParallelWorkers uses for n items.
func Workers(n int) int { return max(1, min(Threads(), n)) }

// ParallelWorkers is ParallelFor that also tells f which of Workers(n) goroutines runs it,
// so that each can own a scratch buffer.
func ParallelWorkers(n int, f func(worker, i int)) { forEach(Workers(n), n, f) }

// forEach calls f(w, i) for every i in [0, n), on up to nt goroutines (this one among them)
// that take the next i when free; w < nt identifies the goroutine. It runs on the pool's
// workers; a call made while the pool is busy (from inside f, or from another goroutine)
// runs all of its items on the calling goroutine.
func forEach(nt, n int, f func(w, i int)) {
	nt = min(nt, n)
	if nt > 1 && pool.mu.TryLock() {
		defer pool.mu.Unlock()
		pool.run(nt, n, f)
		return
	}
	for i := range n {
		f(0, i)
	}
}

// Waking a sleeping thread took about 180 µs on this project's 2-core VMs (measured from the
// fork to the second goroutine's first instruction), longer than most parallel phases of a
// forward pass. So the pool's workers stay, and between jobs spin for spinWait before
// sleeping: long enough to bridge the serial steps between a forward pass's products (a
// layer norm of 256 tokens takes about 1 ms), short enough not to hold a core when idle.
const spinWait = time.Millisecond

// workerPool runs one job at a time on the caller plus up to len(workers) goroutines.
type workerPool struct {
	mu      sync.Mutex // held by the caller whose job the pool runs
	workers []*worker
	seq     atomic.Uint64       // jobs published so far
	job     atomic.Pointer[job] // the current job
}

var pool workerPool

// job is one forEach. state counts the workers inside it, plus closed once the caller has
// run out of items: a worker that arrives later does not join, so the caller never waits
// for a thread that is still waking up only to find nothing left.
type job struct {
	n, nt int
	f     func(w, i int)
	next  atomic.Int64
	state atomic.Int64 // closed<<32 | workers inside
}

const closed = 1 << 32

// work runs items until none is left.
func (j *job) work(w int) {
	for {
		i := int(j.next.Add(1) - 1)
		if i >= j.n {
			return
		}
		j.f(w, i)
	}
}

// worker is a pool goroutine: id is its w in the jobs it joins.
type worker struct {
	id       int
	sleeping atomic.Bool
	wake     chan struct{} // one token: a job may have been published while sleeping
}

func (p *workerPool) run(nt, n int, f func(w, i int)) {
	for len(p.workers) < nt-1 {
		w := &worker{id: len(p.workers) + 1, wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go p.loop(w, p.seq.Load())
	}
	j := &job{n: n, nt: nt, f: f}
	p.job.Store(j)
	p.seq.Add(1)
	for _, w := range p.workers[:nt-1] {
		if w.sleeping.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	j.work(0)
	for {
		s := j.state.Load()
		if s&closed != 0 || j.state.CompareAndSwap(s, s|closed) {
			break
		}
	}
	for spins := 0; j.state.Load() != closed; spins++ {
		if spins%64 == 63 {
			runtime.Gosched()
		}
	}
}

// loop is a worker's life: wait for a job newer than seen, join it if it wants this worker
// and is still open, repeat.
func (p *workerPool) loop(w *worker, seen uint64) {
	for {
		seen = p.await(w, seen)
		j := p.job.Load()
		if w.id >= j.nt {
			continue
		}
		s := j.state.Load()
		for s&closed == 0 && !j.state.CompareAndSwap(s, s+1) {
			s = j.state.Load()
		}
		if s&closed != 0 {
			continue
		}
		j.work(w.id)
		j.state.Add(-1)
	}
}

// await spins, then sleeps, until a job after seen is published, and returns its number.
func (p *workerPool) await(w *worker, seen uint64) uint64 {
	start := time.Now()
	for spins := 0; ; spins++ {
		if s := p.seq.Load(); s != seen {
			return s
		}
		if spins%64 == 63 {
			if time.Since(start) > spinWait {
				break
			}
			runtime.Gosched()
		}
	}
	for {
		w.sleeping.Store(true)
		if s := p.seq.Load(); s != seen {
			w.sleeping.Store(false)
			return s
		}
		<-w.wake
		w.sleeping.Store(false)
		if s := p.seq.Load(); s != seen {
			return s
		}
	}
}
