// Command mechlens looks inside GPT-2-family models and changes them: run, trace, lens,
// attribute, audit, edit. Run 'mechlens help' for the list of commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/mechlens/mechlens/internal/cli"
)

// commands is filled by the init functions of the cmd_*.go files, one command each.
var commands []*cli.Command

func register(c *cli.Command) { commands = append(commands, c) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], cli.StdIO()))
}

func run(ctx context.Context, args []string, io *cli.IO) int {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return cli.Main(ctx, "mechlens", commands, args, io)
}
