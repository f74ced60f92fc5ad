package gpt2

import "sync"

// arena hands out the float32 buffers of one run, carved from chunks that earlier runs
// gave back when there are any. On this project's machines a fresh buffer costs a page
// fault per 4 KiB when first written; caching every activation of GPT-2 small at 256 tokens
// allocates 264 MB, and faulting it in took longer than the forward pass itself.
// Buffers come uninitialized: every caller writes each element before reading it.
type arena struct {
	chunks [][]float32
	cur    int // chunk being carved
	used   int // floats of chunks[cur] handed out
}

// arenaChunk is the smallest chunk an arena allocates, in floats (4 MiB).
const arenaChunk = 1 << 20

// take returns n floats of the arena, with whatever an earlier run left in them.
func (a *arena) take(n int) []float32 {
	for a.cur < len(a.chunks) {
		if c := a.chunks[a.cur]; len(c)-a.used >= n {
			a.used += n
			return c[a.used-n : a.used : a.used]
		}
		a.cur, a.used = a.cur+1, 0
	}
	a.chunks = append(a.chunks, make([]float32, max(n, arenaChunk)))
	a.cur, a.used = len(a.chunks)-1, n
	return a.chunks[a.cur][:n:n]
}

// arenaPool keeps the arenas of finished runs for the model's next runs.
type arenaPool struct {
	mu   sync.Mutex
	free []*arena
}

// maxFreeArenas bounds what a model holds between runs: one run's scratch and one result.
const maxFreeArenas = 2

func (p *arenaPool) get() *arena {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		a := p.free[n-1]
		p.free = p.free[:n-1]
		return a
	}
	return new(arena)
}

func (p *arenaPool) put(a *arena) {
	a.cur, a.used = 0, 0
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxFreeArenas {
		p.free = append(p.free, a)
	}
}
