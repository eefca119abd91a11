// Command fastvae trains variational autoencoders on MNIST-style IDX data on
// the CPU, as a drop-in for the PyTorch VAE example: same flags where they
// apply, same log lines, plus pictures, metrics and resumable checkpoints.
// Run "fastvae help" for the commands and their flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		// A second signal gets the default treatment: the user insists.
		signal.Stop(sigs)
		cancel(interrupt{s})
	}()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}
