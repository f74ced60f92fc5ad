# Generates tok-pretokenize.jsonl: reference pre-tokenization (Python `regex` module, the
# library GPT-2's encoder.py uses) and reference BPE ids (the encoder.py algorithm, restated
# below) for tricky and random texts. Run from this folder:
#   python3 tok-reference.py ../../testdata/gpt2-tokenizer > tok-pretokenize.jsonl
import json, random, sys
import regex

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

def byte_alphabet():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    out, n = {}, 0
    for b in range(256):
        out[b] = chr(b) if b in keep else chr(256 + n)
        n += b not in keep
    return out

def main():
    folder = sys.argv[1]
    vocab = json.load(open(folder + "/vocab.json", encoding="utf-8"))
    lines = open(folder + "/merges.txt", encoding="utf-8").read().split("\n")
    ranks = {tuple(l.split(" ")): i for i, l in enumerate(x for x in lines if x and not x.startswith("#version"))}
    alpha = byte_alphabet()

    def bpe(word):
        word = list(word)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
            if best not in ranks:
                break
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1]); i += 2
                else:
                    out.append(word[i]); i += 1
            word = out
        return word

    pool = ["a", "Z", "é", "ß", "Ω", "ж", "東", "タ", "ا", "ה", "ก", "\u0301", "\u088f", "\U000323b0",
            "0", "7", "²", "Ⅻ", "٣", "\U00010d40", "½",
            " ", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f",
            "\x85", "\xa0", "\u1680", "\u2000", "\u2028", "\u202f", "\u3000", "\u200b", "\ufeff",
            "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "!", "?", ".", ",", "-",
            "_", "=", "<", "|", ">", "\x00", "\x7f", "\ufffd", "🤖", "👩‍👧", "🇫🇷", "word", " word",
            "Hello", "don't", "123", " 42"]
    fixed = ["a\x1cb", "a\x1c\x1db", "a \x1c", "x\x85y", "x \x85y", "x\x85 y", "x\xa0y", "x \xa0y",
             "x\u3000\u3000y", "x\u2028 y", "end \u3000", "  \u3000x", "\x1c\x1d\x1e\x1f",
             "it's 'S 'll'll ''s", "x'sy", " 's", "? 're", "a\u0301b", "١٢٣ ٤", "\u088fx \u323b0",
             "\U00010d40\U00010d41 z", "\t\t x", " \t x", "\r\n\r\n a", "a  ", " ", "\n \n", "  ''"]
    rng = random.Random(7)
    texts = fixed + ["".join(rng.choice(pool) for _ in range(rng.randint(1, 24))) for _ in range(220)]
    for t in texts:
        pieces = PAT.findall(t)
        assert "".join(pieces) == t
        ids = []
        for p in pieces:
            ids += [vocab[x] for x in bpe("".join(alpha[b] for b in p.encode("utf-8")))]
        print(json.dumps({"text": t, "pieces": pieces, "ids": ids}, ensure_ascii=True))

main()
