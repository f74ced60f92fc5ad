package gpt2

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mechlens/mechlens/internal/fsutil"
)

// Tokenizer is GPT-2's byte-level BPE: text is split at special tokens, pre-tokenized
// with GPT-2's pattern (pretokenize.go), and each piece's UTF-8 bytes are merged by rank.
// Tokens are held as their raw bytes; the printable "byte-level" alphabet (" " as "Ġ")
// exists only in vocab.json and merges.txt. A Tokenizer is immutable, hence safe for
// concurrent use; it keeps no cache because merging is fast enough without one
// (BenchmarkEncode).
type Tokenizer struct {
	tokens   []string          // id → raw bytes; "" for ids the vocabulary leaves unassigned
	ids      map[string]int    // raw bytes → id
	merges   [][2]int32        // merge rules in rank order, as token ids
	ranks    map[uint64]uint64 // tokPair(a, b) → rank<<32 | id of the merged token
	byteIDs  [256]int32        // id of each single-byte token
	specials []string          // split out before pre-tokenization; longest first
	eot      int
}

const (
	tokEOT     = "<|endoftext|>"
	tokNoMerge = math.MaxUint64
	tokMaxID   = 1 << 24 // bounds the id → token table built from untrusted files
)

func tokPair(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// tokByteRune maps each byte to the printable rune GPT-2's files spell it with: printable
// Latin-1 bytes stand for themselves, the other 68 bytes take U+0100 onwards in byte order.
// Sorting bytes by their rune gives GPT-2's id order for the 256 byte tokens.
var tokByteRune, tokRuneByte = func() (runes [256]rune, bytes map[rune]byte) {
	bytes = make(map[rune]byte, 256)
	next := rune(256)
	for b := range 256 {
		if ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF) {
			runes[b] = rune(b)
		} else {
			runes[b] = next
			next++
		}
		bytes[runes[b]] = byte(b)
	}
	return runes, bytes
}()

func tokToByteLevel(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		b.WriteRune(tokByteRune[raw[i]])
	}
	return b.String()
}

func tokFromByteLevel(s string) (string, bool) {
	raw := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := tokRuneByte[r]
		if !ok {
			return "", false
		}
		raw = append(raw, b)
	}
	return string(raw), true
}

// tokLooksSpecial reports whether a vocab entry is a control token like <|endoftext|>,
// which Hugging Face matches in text before pre-tokenization. The name must be a word, so
// that a punctuation run like "<|||>" learnt by BPE stays an ordinary token.
func tokLooksSpecial(raw string) bool {
	name, okPrefix := strings.CutPrefix(raw, "<|")
	name, okSuffix := strings.CutSuffix(name, "|>")
	if !okPrefix || !okSuffix || name == "" {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_')
	})
}

// NewTokenizer builds a tokenizer from vocab.json-style entries and merge pairs, both in
// GPT-2's byte-level alphabet.
func NewTokenizer(vocab map[string]int, merges [][2]string) (*Tokenizer, error) {
	return tokFromFiles(vocab, merges, nil, "vocab", "merges")
}

// tokFromFiles decodes the byte-level alphabet and builds the tokenizer. added holds
// tokenizer.json's added tokens (raw text), which vocab may also list.
func tokFromFiles(vocab map[string]int, merges [][2]string, added map[string]int, vocabSrc, mergesSrc string) (*Tokenizer, error) {
	raw := make(map[string]int, len(vocab)+len(added))
	for k, id := range vocab {
		r, ok := tokFromByteLevel(k)
		if _, isAdded := added[k]; isAdded {
			r, ok = k, true // added tokens are raw text, matched as written
		}
		if !ok {
			return nil, fmt.Errorf("tokenizer: %s: token %q is not in the byte-level alphabet", vocabSrc, tokClip(k))
		}
		raw[r] = id
	}
	var specials []string
	for content, id := range added {
		if old, ok := raw[content]; ok && old != id {
			return nil, fmt.Errorf("tokenizer: %s: added token %q has id %d, vocab says %d", vocabSrc, content, id, old)
		}
		raw[content] = id
		specials = append(specials, content)
	}
	rawMerges := make([][2]string, len(merges))
	for i, m := range merges {
		a, okA := tokFromByteLevel(m[0])
		b, okB := tokFromByteLevel(m[1])
		if !okA || !okB {
			return nil, fmt.Errorf("tokenizer: %s: merge %d %q: not in the byte-level alphabet", mergesSrc, i, tokClip(m[0]+" "+m[1]))
		}
		rawMerges[i] = [2]string{a, b}
	}
	return tokBuild(raw, rawMerges, specials, vocabSrc, mergesSrc)
}

// tokBuild makes a Tokenizer from raw-byte tokens and merges. Entries that look like
// <|...|> are added to specials.
func tokBuild(vocab map[string]int, merges [][2]string, specials []string, vocabSrc, mergesSrc string) (*Tokenizer, error) {
	n := 0
	for tok, id := range vocab {
		if tok == "" {
			return nil, fmt.Errorf("tokenizer: %s: empty token with id %d", vocabSrc, id)
		}
		if id < 0 || id >= tokMaxID {
			return nil, fmt.Errorf("tokenizer: %s: token %q has id %d outside [0, %d)", vocabSrc, tok, id, tokMaxID)
		}
		n = max(n, id+1)
	}
	t := &Tokenizer{tokens: make([]string, n), ids: vocab, ranks: make(map[uint64]uint64, len(merges)), eot: -1}
	for tok, id := range vocab {
		if prev := t.tokens[id]; prev != "" {
			prev, tok = min(prev, tok), max(prev, tok)
			return nil, fmt.Errorf("tokenizer: %s: tokens %q and %q share id %d", vocabSrc, prev, tok, id)
		}
		t.tokens[id] = tok
		if tokLooksSpecial(tok) && !slices.Contains(specials, tok) {
			specials = append(specials, tok)
		}
	}
	for b := range 256 {
		id, ok := vocab[string([]byte{byte(b)})]
		if !ok {
			return nil, fmt.Errorf("tokenizer: %s: no token for byte 0x%02x (%q)", vocabSrc, b, string(tokByteRune[b]))
		}
		t.byteIDs[b] = int32(id)
	}
	t.merges = make([][2]int32, len(merges))
	for rank, m := range merges {
		a, okA := vocab[m[0]]
		b, okB := vocab[m[1]]
		ab, okAB := vocab[m[0]+m[1]]
		if !okA || !okB || !okAB {
			return nil, fmt.Errorf("tokenizer: %s: merge %d %q: %q, %q or their concatenation is not in the vocab",
				mergesSrc, rank, tokToByteLevel(m[0])+" "+tokToByteLevel(m[1]), tokToByteLevel(m[0]), tokToByteLevel(m[1]))
		}
		t.merges[rank] = [2]int32{int32(a), int32(b)}
		// A repeated merge keeps its last rank, as encoder.py's dict(zip(merges, ...)) does.
		t.ranks[tokPair(int32(a), int32(b))] = uint64(rank)<<32 | uint64(ab)
	}
	slices.SortFunc(specials, func(x, y string) int {
		if len(x) != len(y) {
			return len(y) - len(x)
		}
		return strings.Compare(x, y)
	})
	t.specials = specials
	if id, ok := vocab[tokEOT]; ok {
		t.eot = id
	}
	return t, nil
}

// LoadTokenizer reads dir/vocab.json and dir/merges.txt or, when those are absent,
// dir/tokenizer.json (Hugging Face tokenizers format, BPE model).
func LoadTokenizer(dir string) (*Tokenizer, error) {
	return loadTokenizer(tokFiles{os.DirFS(dir), dir})
}

// LoadTokenizerFS is LoadTokenizer over the root of fsys (an embedded model).
func LoadTokenizerFS(fsys fs.FS) (*Tokenizer, error) {
	return loadTokenizer(tokFiles{fsys, ""})
}

// tokFiles reads a model folder's files; errors name them as label/name.
type tokFiles struct {
	fsys  fs.FS
	label string
}

func (f tokFiles) path(name string) string { return filepath.Join(f.label, name) }

func (f tokFiles) exists(name string) bool {
	_, err := fs.Stat(f.fsys, name)
	return err == nil
}

func (f tokFiles) read(name string) ([]byte, error) {
	data, err := fs.ReadFile(f.fsys, name)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", f.path(name), errors.Unwrap(err))
	}
	return data, nil
}

func loadTokenizer(f tokFiles) (*Tokenizer, error) {
	hasJSON := f.exists("tokenizer.json")
	if f.exists("vocab.json") && (f.exists("merges.txt") || !hasJSON) {
		return tokLoadVocabMerges(f) // names merges.txt if it is missing
	}
	if hasJSON {
		return tokLoadJSON(f)
	}
	return nil, fmt.Errorf("tokenizer: %s: no vocab.json+merges.txt or tokenizer.json", f.label)
}

func tokLoadVocabMerges(f tokFiles) (*Tokenizer, error) {
	vocab, err := f.read("vocab.json")
	if err != nil {
		return nil, err
	}
	merges, err := f.read("merges.txt")
	if err != nil {
		return nil, err
	}
	return tokParseVocabMerges(vocab, merges, f.path("vocab.json"), f.path("merges.txt"))
}

// ParseTokenizer builds a tokenizer from the contents of a vocab.json and a merges.txt
// (a tokenizer held in memory, such as the GPT-2 one the binary embeds).
func ParseTokenizer(vocabJSON, mergesTxt []byte) (*Tokenizer, error) {
	return tokParseVocabMerges(vocabJSON, mergesTxt, "vocab.json", "merges.txt")
}

func tokParseVocabMerges(vocabJSON, mergesTxt []byte, vocabPath, mergesPath string) (*Tokenizer, error) {
	var vocab map[string]int
	if err := json.Unmarshal(vocabJSON, &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %v", vocabPath, jsonError(err))
	}
	var merges [][2]string
	for i, line := range strings.Split(string(mergesTxt), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || strings.HasPrefix(line, "#version") {
			continue
		}
		m, err := tokParseMerge(line)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: line %d: %v", mergesPath, i+1, err)
		}
		merges = append(merges, m)
	}
	return tokFromFiles(vocab, merges, nil, vocabPath, mergesPath)
}

func tokParseMerge(line string) ([2]string, error) {
	a, b, ok := strings.Cut(line, " ")
	if !ok || a == "" || b == "" || strings.Contains(b, " ") {
		return [2]string{}, fmt.Errorf("merge %q is not two tokens separated by a space", tokClip(line))
	}
	return [2]string{a, b}, nil
}

// tokClip shortens what an error quotes from a file: a binary file read as merges.txt is
// one line of megabytes.
func tokClip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// tokLoadJSON reads a tokenizers file's BPE model and added tokens. Added tokens are
// matched as written: their lstrip, rstrip and normalized options, unused by GPT-2, are
// ignored, as are the file's normalizer and pre-tokenizer (GPT-2's are assumed).
func tokLoadJSON(files tokFiles) (*Tokenizer, error) {
	path := files.path("tokenizer.json")
	data, err := files.read("tokenizer.json")
	if err != nil {
		return nil, err
	}
	var f struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
		Model struct {
			Type   string            `json:"type"`
			Vocab  map[string]int    `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %v", path, jsonError(err))
	}
	if f.Model.Type != "" && f.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer: %s: model type %q, want BPE", path, f.Model.Type)
	}
	// Merges are "a b" strings in older files and ["a", "b"] pairs in newer ones.
	merges := make([][2]string, len(f.Model.Merges))
	for i, m := range f.Model.Merges {
		var s string
		var pair []string
		if err = json.Unmarshal(m, &s); err == nil {
			merges[i], err = tokParseMerge(s)
		} else if err = json.Unmarshal(m, &pair); err == nil && len(pair) == 2 {
			merges[i] = [2]string{pair[0], pair[1]}
		} else {
			err = fmt.Errorf("merge %s is neither \"a b\" nor [\"a\", \"b\"]", tokClip(string(m)))
		}
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: model.merges[%d]: %v", path, i, err)
		}
	}
	added := make(map[string]int, len(f.AddedTokens))
	for _, a := range f.AddedTokens {
		added[a.Content] = a.ID
	}
	return tokFromFiles(f.Model.Vocab, merges, added, path+": model.vocab", path+": model.merges")
}

// Encode returns the token ids of text.
func (t *Tokenizer) Encode(text string) []int {
	ids, _ := t.encode(text, false)
	return ids
}

// EncodeWithOffsets also returns each token's byte span [start, end) in text. Spans tile
// text; a token holding part of a multi-byte character spans just the bytes it holds.
func (t *Tokenizer) EncodeWithOffsets(text string) (ids []int, offsets [][2]int) {
	return t.encode(text, true)
}

func (t *Tokenizer) encode(text string, withOffsets bool) (ids []int, offsets [][2]int) {
	ids = make([]int, 0, len(text)/4+1)
	tokSegments(text, t.specials, func(start, end, special int) {
		if special >= 0 {
			ids = append(ids, t.ids[t.specials[special]])
			if withOffsets {
				offsets = append(offsets, [2]int{start, end})
			}
			return
		}
		seg := text[:end] // pre-tokenize as if the text ended here, as Hugging Face does
		for i := start; i < end; {
			j := tokNextPiece(seg, i)
			n := len(ids)
			ids = t.bpe(seg[i:j], ids)
			if withOffsets {
				p := i
				for _, id := range ids[n:] {
					offsets = append(offsets, [2]int{p, p + len(t.tokens[id])})
					p += len(t.tokens[id])
				}
			}
			i = j
		}
	})
	return ids, offsets
}

// bpe appends the ids of piece (raw bytes, non-empty) to dst.
func (t *Tokenizer) bpe(piece string, dst []int) []int {
	if len(piece) == 1 {
		return append(dst, int(t.byteIDs[piece[0]]))
	}
	var buf [32]int32 // most pieces are short: avoid the heap
	syms := buf[:0]
	for i := 0; i < len(piece); i++ {
		syms = append(syms, t.byteIDs[piece[i]])
	}
	syms = tokMerge(t.ranks, syms)
	for _, s := range syms {
		dst = append(dst, int(s))
	}
	return dst
}

// tokMerge applies merges to syms in place exactly as encoder.py's bpe(): while some
// adjacent pair has a rank, take the lowest-ranked pair and merge all its occurrences,
// left to right without overlap. A heap of candidate pairs keeps long pieces (base64,
// DNA, minified code) at O(n log n) rather than O(n) per merge.
func tokMerge(ranks map[uint64]uint64, syms []int32) []int32 {
	n := int32(len(syms))
	if n < 2 {
		return syms
	}
	var nextBuf, prevBuf, pendingBuf [32]int32
	var pairBuf, heapBuf [32]uint64
	next, prev := nextBuf[:0], prevBuf[:0] // linked list of live symbols; -1 and n end it
	pair := pairBuf[:0]                    // rank<<32 | merged id of (i, next[i]), or tokNoMerge
	pending := pendingBuf[:0]              // left symbols of pairs made this round
	h := heapBuf[:0]                       // rank<<32 | index of the pair's left symbol
	for i := range n {
		next, prev, pair = append(next, i+1), append(prev, i-1), append(pair, tokNoMerge)
		pending = append(pending, i)
	}
	for {
		// Pairs made by a round's merges wait for the next round, as in the reference; the
		// pair being merged cannot reappear, as its parts are shorter than its result.
		for _, i := range pending {
			if i >= 0 && next[i] < n {
				pair[i] = tokRank(ranks, syms[i], syms[next[i]])
				if pair[i] != tokNoMerge {
					h = tokHeapPush(h, pair[i]&^math.MaxUint32|uint64(i))
				}
			}
		}
		pending = pending[:0]
		if len(h) == 0 {
			break
		}
		rank := h[0] >> 32
		for len(h) > 0 && h[0]>>32 == rank {
			var top uint64
			top, h = tokHeapPop(h)
			// Skip entries whose pair has since changed: ranks are unique per pair.
			i := int32(uint32(top))
			if syms[i] < 0 || pair[i]>>32 != rank {
				continue
			}
			j := next[i]
			syms[i], syms[j], pair[i] = int32(uint32(pair[i])), -1, tokNoMerge
			next[i] = next[j]
			if next[i] < n {
				prev[next[i]] = i
			}
			if prev[i] >= 0 {
				pair[prev[i]] = tokNoMerge
			}
			pending = append(pending, prev[i], i)
		}
	}
	out := syms[:0]
	for i := int32(0); i < n; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

// tokHeapPush and tokHeapPop keep h a binary min-heap.
func tokHeapPush(h []uint64, x uint64) []uint64 {
	h = append(h, x)
	for i := len(h) - 1; i > 0 && h[(i-1)/2] > h[i]; i = (i - 1) / 2 {
		h[i], h[(i-1)/2] = h[(i-1)/2], h[i]
	}
	return h
}

func tokHeapPop(h []uint64) (uint64, []uint64) {
	top := h[0]
	h[0] = h[len(h)-1]
	h = h[:len(h)-1]
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && h[c+1] < h[c] {
			c++
		}
		if h[i] <= h[c] {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	return top, h
}

func tokRank(ranks map[uint64]uint64, a, b int32) uint64 {
	if r, ok := ranks[tokPair(a, b)]; ok {
		return r
	}
	return tokNoMerge
}

// Decode returns the text of ids. Bytes of partial UTF-8 characters are kept as they are,
// so Decode(Encode(s)) == s for every s. Ids outside the vocabulary decode to U+FFFD.
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(t.TokenText(id))
	}
	return b.String()
}

// TokenText returns the raw bytes of one token as a string, e.g. " A".
func (t *Tokenizer) TokenText(id int) string {
	if id < 0 || id >= len(t.tokens) || t.tokens[id] == "" {
		return "\uFFFD"
	}
	return t.tokens[id]
}

// TokenID returns the id of the token whose text is exactly text.
func (t *Tokenizer) TokenID(text string) (int, error) {
	if id, ok := t.ids[text]; ok {
		return id, nil
	}
	ids := t.Encode(text)
	if len(ids) == 0 {
		return -1, fmt.Errorf("tokenizer: unknown token %q", text)
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = t.TokenText(id)
	}
	return -1, fmt.Errorf("tokenizer: %q is %d tokens %q, want exactly one", text, len(ids), parts)
}

// VocabSize returns the number of ids: one more than the largest id.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// EOT returns the id of <|endoftext|>, or -1 if the vocabulary has none.
func (t *Tokenizer) EOT() int { return t.eot }

// WriteFiles writes dir/vocab.json and dir/merges.txt in the format of GPT-2's files, which
// LoadTokenizer and Hugging Face transformers read back.
func (t *Tokenizer) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	err := fsutil.WriteFileAtomic(filepath.Join(dir, "vocab.json"), func(w io.Writer) error {
		sep := "{"
		for id, tok := range t.tokens {
			if tok == "" {
				continue
			}
			if _, err := fmt.Fprintf(w, "%s%s: %d", sep, tokJSONString(tokToByteLevel(tok)), id); err != nil {
				return err
			}
			sep = ", "
		}
		_, err := io.WriteString(w, "}\n")
		return err
	})
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	err = fsutil.WriteFileAtomic(filepath.Join(dir, "merges.txt"), func(w io.Writer) error {
		// transformers' slow GPT2Tokenizer drops the first line unread: keep the header.
		if _, err := io.WriteString(w, "#version: 0.2\n"); err != nil {
			return err
		}
		for _, m := range t.merges {
			line := tokToByteLevel(t.tokens[m[0]]) + " " + tokToByteLevel(t.tokens[m[1]]) + "\n"
			if _, err := io.WriteString(w, line); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}

// tokJSONString quotes s for JSON, leaving <, > and & readable (<|endoftext|>).
func tokJSONString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
