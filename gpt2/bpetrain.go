package gpt2

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// TrainBPE learns a byte-level BPE vocabulary of exactly vocabSize ids from the GPT-2
// pre-tokenized words of texts: ids 0..255 are the bytes in GPT-2's order, then each merge
// of the most frequent adjacent pair (ties go to the lexicographically smallest pair of
// token bytes) adds a token, and <|endoftext|> takes the last id. Occurrences of
// <|endoftext|> in texts are not trained on.
//
// Every string of mustBeSingle must encode to one token. Strings the greedy merges do not
// cover get extra merges of their own, ranked after greedy merges that make room for them,
// and the greedy merges then fill any remaining ids. The result depends only on the inputs.
//
// Pair counts are kept up to date as merges apply, but picking each merge scans all
// distinct pairs: meant for the small vocabularies of toy models.
func TrainBPE(texts []string, vocabSize int, mustBeSingle []string) (*Tokenizer, error) {
	if vocabSize < 257 {
		return nil, fmt.Errorf("tokenizer: train: vocab size %d, want at least 257 (256 bytes and %s)", vocabSize, tokEOT)
	}
	for _, s := range mustBeSingle {
		if s == tokEOT {
			continue
		}
		if pieces := bpeCountPieces(s); pieces != 1 {
			return nil, fmt.Errorf("tokenizer: train: %q is %d pre-tokens, cannot be one token", s, pieces)
		}
	}
	words := bpeCountWords(texts)
	budget := vocabSize - 1 // ids before <|endoftext|>
	var tr *bpeTrainer
	for reserve := 0; ; {
		tr = newBPETrainer(words)
		if err := tr.train(budget - reserve); err != nil {
			return nil, err
		}
		for _, s := range mustBeSingle {
			if s != tokEOT {
				tr.forceSingle(s)
			}
		}
		over := len(tr.tokens) - budget
		if over <= 0 {
			break
		}
		// The forced merges need more room: retrain with fewer greedy merges before them.
		reserve += over
		if budget-reserve < 256 {
			return nil, fmt.Errorf("tokenizer: train: vocab size %d leaves no room for the tokens of mustBeSingle", vocabSize)
		}
	}
	if err := tr.train(budget); err != nil {
		return nil, err
	}

	vocab := make(map[string]int, vocabSize)
	for id, tok := range tr.tokens {
		vocab[tok] = id
	}
	vocab[tokEOT] = budget
	merges := make([][2]string, len(tr.merges))
	for i, m := range tr.merges {
		merges[i] = [2]string{tr.tokens[m[0]], tr.tokens[m[1]]}
	}
	t, err := tokBuild(vocab, merges, nil, "trained vocab", "trained merges")
	if err != nil {
		return nil, err
	}
	for _, s := range mustBeSingle {
		if len(t.Encode(s)) != 1 {
			return nil, fmt.Errorf("tokenizer: train: %q does not encode to one token", s)
		}
	}
	return t, nil
}

func bpeCountPieces(s string) int {
	n := 0
	for i := 0; i < len(s); i = tokNextPiece(s, i) {
		n++
	}
	return n
}

type bpeWord struct {
	syms  []int32 // token ids, merged so far
	count int     // occurrences in the corpus
}

// bpeCountWords returns the distinct pre-tokenized pieces of texts, sorted by their bytes.
func bpeCountWords(texts []string) []bpeWord {
	counts := map[string]int{}
	for _, text := range texts {
		tokSegments(text, []string{tokEOT}, func(start, end, special int) {
			if special >= 0 {
				return
			}
			seg := text[:end]
			for i := start; i < end; {
				j := tokNextPiece(seg, i)
				counts[seg[i:j]]++
				i = j
			}
		})
	}
	words := make([]bpeWord, 0, len(counts))
	for _, w := range slices.Sorted(maps.Keys(counts)) {
		words = append(words, bpeWord{syms: bpeBytes(w), count: counts[w]})
	}
	return words
}

// bpeBytes returns the byte token ids of w: bytes in GPT-2's vocab order (bpeByteOrder).
func bpeBytes(w string) []int32 {
	syms := make([]int32, len(w))
	for i := 0; i < len(w); i++ {
		syms[i] = bpeByteID[w[i]]
	}
	return syms
}

var bpeByteOrder, bpeByteID = func() (order [256]byte, id [256]int32) {
	for b := range 256 {
		order[b] = byte(b)
	}
	slices.SortFunc(order[:], func(x, y byte) int { return cmp.Compare(tokByteRune[x], tokByteRune[y]) })
	for i, b := range order {
		id[b] = int32(i)
	}
	return order, id
}()

type bpeTrainer struct {
	tokens []string         // id → raw bytes
	ids    map[string]int32 // raw bytes → id
	merges [][2]int32
	ranks  map[uint64]uint64 // as Tokenizer.ranks
	words  []bpeWord         // the corpus with all merges so far applied
	counts map[uint64]int    // tokPair → occurrences in words, weighted by word count
	where  map[uint64][]int  // tokPair → words it was counted in (some may have lost it)
}

func newBPETrainer(words []bpeWord) *bpeTrainer {
	tr := &bpeTrainer{ids: map[string]int32{}, ranks: map[uint64]uint64{}, counts: map[uint64]int{}, where: map[uint64][]int{}}
	for _, b := range bpeByteOrder {
		tr.ids[string([]byte{b})] = int32(len(tr.tokens))
		tr.tokens = append(tr.tokens, string([]byte{b}))
	}
	tr.words = make([]bpeWord, len(words))
	for wi, w := range words {
		tr.words[wi] = bpeWord{syms: slices.Clone(w.syms), count: w.count}
		tr.count(wi, +1)
	}
	return tr
}

// count adds (sign +1) or removes (-1) the pairs of word wi to or from the counts.
func (tr *bpeTrainer) count(wi, sign int) {
	w := tr.words[wi]
	for i := 0; i+1 < len(w.syms); i++ {
		p := tokPair(w.syms[i], w.syms[i+1])
		if tr.counts[p] += sign * w.count; tr.counts[p] == 0 {
			delete(tr.counts, p)
		}
		if sign > 0 {
			tr.where[p] = append(tr.where[p], wi)
		}
	}
}

// train adds greedy merges until there are size tokens.
func (tr *bpeTrainer) train(size int) error {
	for len(tr.tokens) < size {
		if len(tr.counts) == 0 {
			return fmt.Errorf("tokenizer: train: corpus yields only %d tokens, want %d", len(tr.tokens)+1, size+1)
		}
		var best uint64
		bestCount := 0
		for p, c := range tr.counts {
			if c > bestCount || c == bestCount && tr.pairLess(p, best) {
				best, bestCount = p, c
			}
		}
		tr.merge(int32(best>>32), int32(uint32(best)))
	}
	return nil
}

func (tr *bpeTrainer) pairLess(p, q uint64) bool {
	if c := strings.Compare(tr.tokens[p>>32], tr.tokens[q>>32]); c != 0 {
		return c < 0
	}
	return tr.tokens[uint32(p)] < tr.tokens[uint32(q)]
}

// merge records the rule a+b (unless it exists) and applies it to the corpus.
func (tr *bpeTrainer) merge(a, b int32) {
	ab := int32(-1)
	if r, ok := tr.ranks[tokPair(a, b)]; ok {
		// The pair reappeared because another merge rebuilt a or b: the rule exists.
		ab = int32(uint32(r))
	} else {
		tok := tr.tokens[a] + tr.tokens[b]
		var known bool
		if ab, known = tr.ids[tok]; !known {
			ab = int32(len(tr.tokens))
			tr.ids[tok] = ab
			tr.tokens = append(tr.tokens, tok)
		}
		tr.ranks[tokPair(a, b)] = uint64(len(tr.merges))<<32 | uint64(ab)
		tr.merges = append(tr.merges, [2]int32{a, b})
	}
	// Replace (a, b) by ab, left to right as tokMerge does, in the words that hold it.
	wis := tr.where[tokPair(a, b)]
	delete(tr.where, tokPair(a, b))
	for _, wi := range wis {
		syms := tr.words[wi].syms
		if !bpeHasPair(syms, a, b) { // already merged: listed twice
			continue
		}
		tr.count(wi, -1)
		n := 0
		for i := 0; i < len(syms); n++ {
			if i+1 < len(syms) && syms[i] == a && syms[i+1] == b {
				syms[n] = ab
				i += 2
			} else {
				syms[n] = syms[i]
				i++
			}
		}
		tr.words[wi].syms = syms[:n]
		tr.count(wi, +1)
	}
}

func bpeHasPair(syms []int32, a, b int32) bool {
	for i := 0; i+1 < len(syms); i++ {
		if syms[i] == a && syms[i+1] == b {
			return true
		}
	}
	return false
}

// forceSingle adds merges, ranked after all current ones, until s encodes to one token:
// each joins the first two tokens s currently encodes to. Encodings of strings that are
// already one token cannot change, since later merges only apply where earlier ones stop.
func (tr *bpeTrainer) forceSingle(s string) {
	for {
		syms := tokMerge(tr.ranks, bpeBytes(s))
		if len(syms) == 1 {
			return
		}
		tr.merge(syms[0], syms[1])
	}
}
