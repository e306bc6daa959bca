// Command warden is the CLI of Warden: a crypto trading agent in which a
// language model only advises and deterministic code decides.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(mainProcess(os.Args[1:]))
}

// mainProcess is Main with the process's signals. SIGINT, SIGTERM and
// SIGHUP (the terminal closed) cancel the context: every command stops as
// on Ctrl-C, removing what it made (an --archive view's merged copy of the
// history, a backtest's staging), and `warden run` finishes its cycle.
// SIGPIPE is taken from the runtime, which would otherwise kill the
// process at the first write to a closed stdout (`| head`) before any of
// that: the write fails with EPIPE instead, and Main stops the command
// and exits 141 without a word (exitBrokenPipe).
func mainProcess(args []string) int {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return Main(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}
