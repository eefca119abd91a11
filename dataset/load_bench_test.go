package dataset

import (
	"archive/zip"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastvae/fastvae/idx"
)

// fashionMNIST is where Debian's dataset-fashion-mnist ('make data') puts
// the gzipped IDX files.
const fashionMNIST = "/usr/share/datasets/fashion-mnist"

// BenchmarkLoad reads Fashion-MNIST's 60,000 training and 10,000 test
// images from the gzipped IDX files and from the same images as raw IDX,
// .npy, and .npz (deflated and stored), all written here, so that the
// formats compare on one machine in one run:
//
//	go test -run '^$' -bench Load -count 10 ./dataset | benchstat -col /format -
func BenchmarkLoad(b *testing.B) {
	if _, err := os.Stat(fashionMNIST); err != nil {
		b.Skip("Fashion-MNIST is not installed (make data)")
	}
	dir := b.TempDir()
	raw := filepath.Join(dir, "raw")
	must(b, os.MkdirAll(raw, 0o755))
	arrays := map[string][]byte{}
	var size int64
	for _, split := range []struct {
		idx idx.Split
		npz string
	}{{idx.Train, "x_train"}, {idx.Test, "x_test"}} {
		im, err := idx.ReadImages(filepath.Join(fashionMNIST, string(split.idx)+"-images-idx3-ubyte.gz"))
		must(b, err)
		f, err := os.Create(filepath.Join(raw, string(split.idx)+"-images-idx3-ubyte"))
		must(b, err)
		must(b, idx.WriteImages(f, im.Rows, im.Cols, im.Pixels))
		must(b, f.Close())
		f, err = os.Create(filepath.Join(dir, split.npz+".npy"))
		must(b, err)
		must(b, WriteNPY(f, []int{im.Len(), im.Rows, im.Cols}, im.Pixels))
		must(b, f.Close())
		arrays[split.npz], err = os.ReadFile(filepath.Join(dir, split.npz+".npy"))
		must(b, err)
		size += int64(len(im.Pixels))
	}
	for name, method := range map[string]uint16{"deflate.npz": zip.Deflate, "stored.npz": zip.Store} {
		f, err := os.Create(filepath.Join(dir, name))
		must(b, err)
		zw := zip.NewWriter(f)
		for _, k := range []string{"x_train", "x_test"} {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: k + ".npy", Method: method})
			must(b, err)
			_, err = w.Write(arrays[k])
			must(b, err)
		}
		must(b, zw.Close())
		must(b, f.Close())
	}
	for _, c := range []struct{ format, data, test string }{
		{"idx-gz", fashionMNIST, ""},
		{"idx", raw, ""},
		{"npy", filepath.Join(dir, "x_train.npy"), filepath.Join(dir, "x_test.npy")},
		{"npz-deflate", filepath.Join(dir, "deflate.npz"), ""},
		{"npz-stored", filepath.Join(dir, "stored.npz"), ""},
	} {
		b.Run("impl=go/format="+c.format, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				d, err := Load(Source{Data: c.data, TestData: c.test})
				must(b, err)
				if d.Train.Len() != 60000 || d.Test.Len() != 10000 {
					b.Fatalf("%d and %d images", d.Train.Len(), d.Test.Len())
				}
			}
		})
	}
}

func must(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGather assembles a shuffled batch of 128 examples of 784 values
// from 60,000, as the trainer does every step: from bytes (converted to
// float32 on the way) and from float32 (copied).
func BenchmarkGather(b *testing.B) {
	const n, d, batch = 60000, 784, 128
	u8 := make([]byte, n*d)
	for i := range u8 {
		u8[i] = byte(i * 7)
	}
	f32 := make([]float32, n*d)
	for i, v := range u8 {
		f32[i] = byteValue[v]
	}
	idx := rand.New(rand.NewPCG(1, 2)).Perm(n)[:batch]
	dst := make([]float32, batch*d)
	for _, s := range []*Set{newBytesSet([]int{28, 28}, u8, "u8"), newFloatSet([]int{28, 28}, f32, "f32")} {
		held := "bytes"
		if !s.Compact() {
			held = "float32"
		}
		b.Run("impl=go/held="+held, func(b *testing.B) {
			b.SetBytes(batch * d * 4)
			for b.Loop() {
				s.Gather(dst, idx)
			}
		})
	}
}
