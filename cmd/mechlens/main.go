// Command mechlens looks inside GPT-2-family models and changes them: run, trace, lens,
// attribute, audit, edit. Run 'mechlens help' for the list of commands.
//
// Each command is flag binding plus a run function: its constructor binds the flags to an
// options struct, and its Run checks the positional arguments, fills the rest of the struct
// and calls runNAME(ctx, io, opts), which a caller without a command line (tests, the TUI)
// can call directly (README, "Development").
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mechlens/mechlens/internal/cli"
	"github.com/mechlens/mechlens/internal/fsutil"
)

// commands is filled by the init functions of the cmd_*.go files, one command each.
var commands []*cli.Command

func register(c *cli.Command) { commands = append(commands, c) }

// interruptGrace is how long a command has, after SIGINT or SIGTERM, to stop by itself
// (its forward passes check the context between blocks). Past it, the process removes the
// temp files of writes under way and exits: work that does not check the context (loading,
// weight processing, one large product) must not keep the user waiting.
const interruptGrace = 400 * time.Millisecond

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var exiting atomic.Bool // whoever sets it first exits: the command or the backstop
	go func() {
		<-ctx.Done()
		time.Sleep(interruptGrace)
		if exiting.CompareAndSwap(false, true) {
			fsutil.RemovePending()
			fmt.Fprintln(os.Stderr, "mechlens: interrupted")
			os.Exit(cli.ExitInterrupted)
		}
	}()
	code := run(ctx, os.Args[1:], cli.StdIO())
	if !exiting.CompareAndSwap(false, true) {
		select {} // the backstop is exiting
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, io *cli.IO) int {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return cli.Main(ctx, "mechlens", commands, args, io)
}
