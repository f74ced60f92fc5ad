// Package gpt2 owns the GPT-2 architecture: its config, its parameters in Hugging Face's
// layout, the forward pass with every TransformerLens hook point (read and write), weight
// processing, generation with a KV cache, and the byte-level BPE tokenizer.
//
// It must not download anything (weights does) and must not hold analyses (lens, edit and
// audit do, through hook names only). Every matrix product goes through internal/tensor,
// and a model keeps each weight matrix once, packed for it. A run's memory comes from the
// model's pool (Result.Release gives it back), so that caching activations in a loop of runs
// writes to warm memory instead of faulting in fresh pages.
//
// Examples (example_test.go, run by go test): Example loads the embedded model and reads
// its next token; ExampleModel_Run keeps an activation in the cache and zeroes a head with a
// write hook.
//
// Dimensions, as in TransformerLens's config, used in every shape comment of this package:
//
//	N = tokens of a ragged batch (all sequences back to back), T = positions of one sequence,
//	L = n_layers, D = d_model, H = n_heads, Dh = d_head, M = d_mlp (4D), V = d_vocab, C = n_ctx.
package gpt2
