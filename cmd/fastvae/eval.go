package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

func setupEval(fs *flag.FlagSet) func(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
	f := &setFlags{}
	f.register(fs)
	return func(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
		t, s, restore, err := f.open(fs, stderr)
		if err != nil {
			return err
		}
		defer restore()
		m := t.m
		m.Reserve(evalChunk)
		buf := make([]float32, evalChunk*s.Dim())
		loss, recon, kl := evalSet(m, s, buf, evalChunk).PerExample()
		name := "Test"
		if f.split == "train" {
			name = "Train"
		}
		fmt.Fprintf(stdout, "====> %s set loss: %.4f\n", name, loss)
		fmt.Fprintf(stdout, "reconstruction %.4f, KL %.4f nats per %s; %d %s of %s; model %s\n",
			recon, kl, strings.TrimSuffix(noun(s), "s"), s.Len(), noun(s), s.Source, m.Config())
		return nil
	}
}
