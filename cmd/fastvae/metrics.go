package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// metricsPath is the run's metrics.jsonl: one JSON record per epoch, and
// one of the final test NLL.
func (t *trainer) metricsPath() string { return filepath.Join(t.st.Out, "metrics.jsonl") }

func (t *trainer) appendMetrics(rec map[string]any) error {
	path := t.metricsPath()
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = fh.Write(append(line, '\n'))
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// trimMetrics makes metrics.jsonl hold the records of what the checkpoint
// has done, and only those: a fresh run starts it afresh; a resumed one
// drops the records a run wrote after its last checkpoint before it was
// killed (epochs after Epoch, a final NLL the checkpoint has not
// recorded) and a last line cut short, which the resumed run writes
// again. The file is replaced atomically, and only when a record goes.
func (t *trainer) trimMetrics(fresh bool) error {
	path := t.metricsPath()
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fresh:
		if len(b) == 0 {
			return nil
		}
		return writeAtomic(path, func(io.Writer) error { return nil })
	}
	var keep [][]byte
	lines := bytes.SplitAfter(b, []byte("\n"))
	for _, l := range lines {
		var rec struct {
			Epoch   *int     `json:"epoch"`
			TestNLL *float64 `json:"test_nll"`
		}
		if !bytes.HasSuffix(l, []byte("\n")) || json.Unmarshal(l, &rec) != nil || rec.Epoch == nil {
			continue // cut short, or not a record of fastvae's
		}
		if *rec.Epoch > t.st.Epoch {
			continue
		}
		if p := t.st.NLL; rec.TestNLL != nil && (p == nil || !p.Finished || p.Epoch != *rec.Epoch) {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) == len(lines) || len(keep) == len(lines)-1 && len(lines[len(lines)-1]) == 0 {
		return nil
	}
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(bytes.Join(keep, nil))
		return err
	})
}

// removeTemporaries deletes the temporary files of the checkpoint, the
// best model, the metrics and the pictures that a run killed while writing
// them left behind (they are written to a temporary file, then renamed).
func (t *trainer) removeTemporaries() {
	patterns := []string{
		filepath.Join(filepath.Dir(t.ckpt), "."+filepath.Base(t.ckpt)+".tmp*"),
		filepath.Join(t.st.Out, ".best.safetensors.tmp*"),
		filepath.Join(t.st.Out, ".metrics.jsonl.tmp*"),
		filepath.Join(t.st.Out, ".*.png.tmp*"),
	}
	for _, p := range patterns {
		names, _ := filepath.Glob(p)
		for _, n := range names {
			os.Remove(n)
		}
	}
}
