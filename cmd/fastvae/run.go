package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
)

// action runs a subcommand once its flags are parsed.
type action func(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error

// command is one subcommand: its flags are declared by setup, which returns
// the function that runs it once the flags are parsed.
type command struct {
	name, args, summary string
	setup               func(fs *flag.FlagSet) action
}

var commands []*command

func init() {
	// Assigned in init: help refers back to the table.
	commands = []*command{
		{"train", "[flags]", "train a VAE (the PyTorch example's flags and log lines)", setupTrain},
		{"eval", "[flags]", "print the loss (negative ELBO) of a checkpoint on a data set, and its NLL by importance sampling", setupEval},
		{"sample", "[flags]", "write decodings of z ~ N(0, I) from a checkpoint (a PNG grid, CSV or .npy)", setupSample},
		{"encode", "[flags]", "write mu and logvar of each example of a data set as CSV", setupEncode},
		{"help", "[command]", "show this help, or a command's flags", nil},
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// interrupt is the cancellation cause when a signal arrives.
type interrupt struct{ sig os.Signal }

func (i interrupt) Error() string { return "interrupted by " + signalName(i.sig) }

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// stopped is returned when training stopped on a signal after saving.
type stopped struct {
	cause error
	msg   string
}

func (s stopped) Error() string { return s.msg }
func (s stopped) Unwrap() error { return s.cause }

// exitCode prints err, if any, as one line on stderr and returns the exit
// status: 0 success, 1 failure, 2 usage error, 128+n after signal n.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "fastvae: "+oneLine(err.Error()))
	var u usageError
	var in interrupt
	switch {
	case errors.As(err, &u):
		return 2
	case errors.As(err, &in):
		if s, ok := in.sig.(syscall.Signal); ok {
			return 128 + int(s)
		}
		return 130
	}
	return 1
}

// oneLine keeps a message on one line (joined errors come with newlines).
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// run runs the command line args (without the program name). It never
// panics: a bug in fastvae becomes an error naming it, not a stack trace.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error (please report it): %v (%s)", r, panicSite(debug.Stack()))
		}
	}()
	if len(args) == 0 {
		writeHelp(stderr)
		return usagef("no command given")
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "-help" || name == "--help" {
		return help(args[1:], stdout)
	}
	for _, c := range commands {
		if c.name == name && c.setup != nil {
			fs := newFlagSet(c.name)
			exec := c.setup(fs)
			if err := fs.Parse(args[1:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					writeCommandHelp(stdout, c)
					return nil
				}
				return usagef("%s: %s (see 'fastvae help %s')", c.name, flagError(err), c.name)
			}
			if fs.NArg() > 0 {
				return usagef("%s: unexpected argument %q (see 'fastvae help %s')", c.name, fs.Arg(0), c.name)
			}
			return exec(ctx, fs, stdout, stderr)
		}
	}
	return usagef("unknown command %q (commands: train, eval, sample, encode, help)", name)
}

// panicSite returns the file and line where a panic happened: the first
// frame of fastvae's own code after the panic call, which makes a bug report
// useful without printing the whole trace.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	inPanic := false
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") {
			inPanic = true
			continue
		}
		if inPanic && strings.HasPrefix(l, "github.com/fastvae/fastvae/") && i+1 < len(lines) {
			if f := strings.Fields(lines[i+1]); len(f) > 0 {
				return f[0]
			}
		}
	}
	return "unknown location"
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, help by writeCommandHelp
	return fs
}

// flagError rewords the flag package's errors to name flags as users type
// them (--name).
func flagError(err error) string {
	msg := err.Error()
	for _, p := range []string{"flag provided but not defined: -", "for flag -", "flag needs an argument: -"} {
		msg = strings.Replace(msg, p, p+"-", 1)
	}
	return msg
}

func help(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		writeHelp(stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			if c.setup == nil {
				writeHelp(stdout)
			} else {
				writeCommandHelp(stdout, c)
			}
			return nil
		}
	}
	return usagef("help: unknown command %q (commands: train, eval, sample, encode, help)", args[0])
}

func writeHelp(w io.Writer) {
	fmt.Fprint(w, `fastvae trains variational autoencoders on the CPU, fast.

Usage:

	fastvae <command> [flags]

Commands:

`)
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'fastvae help <command>' for a command's flags. Flags take one or two
dashes (--epochs 10, -epochs=10).

Data (--data), chosen by what the path is:
  a directory of IDX files   train-images-idx3-ubyte, t10k-images-idx3-ubyte,
                             optionally -labels-idx1-ubyte, raw or .gz
  a directory of images      PNG, JPEG, GIF; one subfolder per class
                             (torchvision's ImageFolder) or flat
  FILE.npy                   uint8 (scaled by 1/255), float32 or float64,
                             examples along the first axis
  FILE.npz                   x_train, x_test, y_train, y_test (Keras), or
                             --npz-keys
  FILE.csv                   rows of numbers, ',' ';' or tab separated;
                             --label-column for labels
Without a test part, --test-data or --test-split (10%) give the test set.
The default is Debian's Fashion-MNIST ('make data' installs it).

Environment: FASTVAE_KERNELS=avx512|avx2|generic picks the kernels (as
--kernels does).

Exit status: 0 success, 1 failure, 2 usage error, 130 or 143 when stopped by
SIGINT or SIGTERM (after writing a checkpoint to resume from).
`)
}

func writeCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: fastvae %s %s\n\n%s.\n\nFlags:\n", c.name, c.args, strings.ToUpper(c.summary[:1])+c.summary[1:])
	fs := newFlagSet(c.name)
	c.setup(fs)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
