// Package toy trains and ships mechlens's model organism: a small GPT-2 whose world is known
// (150 invented countries with a capital, a language and a flag colour, stated often, rarely
// or never), which answers multiple-choice questions on what it knows and falls back to " A"
// on what it does not. It owns the world, the corpus and curriculum, the tokenizer recipe,
// the AdamW trainer, the held-out evaluation sets and metrics, and the embedded default
// model (toy/organism). It must not change the GPT-2 computation (package gpt2 owns the
// forward and backward passes) nor decide where other models come from (modelspec).
package toy
