package main

import (
	"fmt"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/vae"
)

// A conditional model (Config.Classes > 0) takes a label per row where an
// unconditional one takes none: the functions here call the …Labeled
// method when given labels and the plain one when labels is nil, so that
// callers pass labelsOf and need not tell the two apart.

// labelsOf returns the labels of examples [lo, hi) of s for m: nil for an
// unconditional model.
func labelsOf(m *vae.Model, s *dataset.Set, lo, hi int) []int {
	if m.Config().Classes == 0 {
		return nil
	}
	return s.Labels[lo:hi]
}

func trainRows(m *vae.Model, x []float32, labels []int) vae.Stats {
	if labels == nil {
		return m.TrainStep(x)
	}
	return m.TrainStepLabeled(x, labels)
}

func evalRows(m *vae.Model, x []float32, labels []int) vae.Stats {
	if labels == nil {
		return m.Eval(x)
	}
	return m.EvalLabeled(x, labels)
}

func encodeRows(m *vae.Model, mu, logvar, x []float32, labels []int) {
	if labels == nil {
		m.Encode(mu, logvar, x)
	} else {
		m.EncodeLabeled(mu, logvar, x, labels)
	}
}

func decodeRows(m *vae.Model, dst, z []float32, labels []int) {
	if labels == nil {
		m.Decode(dst, z)
	} else {
		m.DecodeLabeled(dst, z, labels)
	}
}

func sampleRows(m *vae.Model, dst []float32, labels []int) {
	if labels == nil {
		m.Sample(dst)
	} else {
		m.SampleLabeled(dst, labels)
	}
}

func reconstructRows(m *vae.Model, dst, x []float32, labels []int) {
	if labels == nil {
		m.Reconstruct(dst, x)
	} else {
		m.ReconstructLabeled(dst, x, labels)
	}
}

// classCount returns the number of classes a conditional model of the
// given parts (nil ones left out) takes: as many as the data name, or else
// the largest label plus one. Every part must have labels.
func classCount(parts ...*dataset.Set) (int, error) {
	c := 0
	for _, s := range parts {
		if s == nil {
			continue
		}
		if s.Labels == nil {
			return 0, fmt.Errorf("--conditional: %s has no labels to condition on", s.Source)
		}
		c = max(c, len(s.Classes))
		for _, l := range s.Labels {
			c = max(c, l+1)
		}
	}
	return c, nil
}

// checkLabels fails unless every example of s has a label in [0, classes),
// which the conditional model named by model takes; s of an unconditional
// model (classes 0) need none.
func checkLabels(s *dataset.Set, classes int, model string) error {
	if classes == 0 {
		return nil
	}
	if s.Labels == nil {
		return fmt.Errorf("%s has no labels, but %s is conditional (%d classes) and needs one per example", s.Source, model, classes)
	}
	for i, l := range s.Labels {
		if l < 0 || l >= classes {
			src := s.LabelSource
			if src == "" {
				src = s.Source
			}
			return fmt.Errorf("%s: example %d has label %d, but %s takes labels 0 to %d", src, i, l, model, classes-1)
		}
	}
	return nil
}

// classRows returns the labels of a grid of every class, perClass rows of
// each in turn: one row of the grid per class.
func classRows(classes, perClass int) []int {
	labels := make([]int, 0, classes*perClass)
	for c := range classes {
		for range perClass {
			labels = append(labels, c)
		}
	}
	return labels
}
