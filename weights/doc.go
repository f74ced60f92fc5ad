// Package weights owns checkpoint files and where they come from: the safetensors format
// (read over mmap, write atomically), the Hugging Face hub client and its cache layout. It
// knows nothing of GPT-2's architecture or of hooks; it must not touch the network except in
// the hub client.
package weights
