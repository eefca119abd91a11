package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

func setupEncode(fs *flag.FlagSet) action {
	f := &setFlags{}
	f.register(fs)
	out := fs.String("out", "-", "CSV `file` to write (- for standard output)")
	return func(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
		t, s, restore, err := f.open(fs, stderr)
		if err != nil {
			return err
		}
		defer restore()
		m := t.m
		L, n := m.Config().Latent, s.Len()
		mu, logvar := make([]float32, n*L), make([]float32, n*L)
		encodeSet(m, s, mu, logvar, make([]float32, evalChunk*s.Dim()), evalChunk)

		write := func(w io.Writer) error {
			bw := bufio.NewWriter(w)
			bw.WriteString("index")
			if s.Labels != nil {
				bw.WriteString(",label")
				if s.Classes != nil {
					bw.WriteString(",class")
				}
			}
			for _, p := range []string{"mu", "logvar"} {
				for j := range L {
					fmt.Fprintf(bw, ",%s_%d", p, j)
				}
			}
			bw.WriteByte('\n')
			var buf []byte
			for i := range n {
				buf = strconv.AppendInt(buf[:0], int64(i), 10)
				if s.Labels != nil {
					buf = append(buf, ',')
					buf = strconv.AppendInt(buf, int64(s.Labels[i]), 10)
					if s.Classes != nil {
						buf = append(buf, ',')
						buf = appendCSVField(buf, s.Classes[s.Labels[i]])
					}
				}
				for _, v := range [][]float32{mu[i*L : (i+1)*L], logvar[i*L : (i+1)*L]} {
					for _, x := range v {
						buf = append(buf, ',')
						buf = strconv.AppendFloat(buf, float64(x), 'g', -1, 32)
					}
				}
				buf = append(buf, '\n')
				bw.Write(buf)
			}
			return bw.Flush()
		}
		if *out == "-" {
			if err := write(stdout); err != nil {
				return fmt.Errorf("write standard output: %w", err)
			}
			return nil
		}
		if err := writeAtomic(*out, write); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "fastvae: wrote mu and logvar of %d %s to %s\n", n, noun(s), *out)
		return nil
	}
}

// appendCSVField appends s, quoted when CSV needs it.
func appendCSVField(buf []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") && strings.TrimSpace(s) == s {
		return append(buf, s...)
	}
	return append(append(buf, '"'), append([]byte(strings.ReplaceAll(s, `"`, `""`)), '"')...)
}
