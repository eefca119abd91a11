package picture

import (
	"flag"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keep writes the test pictures into testdata/out for a person to look at.
var keep = flag.Bool("keep", false, "write the test pictures to testdata/out")

func outDir(t *testing.T) string {
	if *keep {
		d := filepath.Join("testdata", "out")
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

func readPNG(t *testing.T, path string) image.Image {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	return img
}

func TestGrid(t *testing.T) {
	// Three 2×3 images, two per row: 2 rows of tiles.
	ims := [][]float32{
		{0, 0.5, 1, 2, -1, float32(math.NaN())},
		{1, 1, 1, 1, 1, 1},
		{0.2, 0.2, 0.2, 0.2, 0.2, 0.2},
	}
	img, err := Grid(ims, 2, 3, 1, 2)
	require.NoError(t, err)
	g := img.(*image.Gray)
	assert.Equal(t, image.Rect(0, 0, 2*(3+2)+2, 2*(2+2)+2), g.Bounds())
	// First tile at (2, 2).
	assert.Equal(t, []uint8{0, 128, 255}, g.Pix[2*g.Stride+2:2*g.Stride+5])
	assert.Equal(t, []uint8{255, 0, 0}, g.Pix[3*g.Stride+2:3*g.Stride+5])
	// Second tile at (7, 2), third at (2, 6); the padding stays black.
	assert.Equal(t, uint8(255), g.GrayAt(7, 2).Y)
	assert.Equal(t, uint8(0), g.GrayAt(6, 2).Y)
	assert.Equal(t, uint8(51), g.GrayAt(2, 6).Y)
	assert.Equal(t, uint8(0), g.GrayAt(7, 6).Y, "no fourth image")

	path := filepath.Join(t.TempDir(), "g.png")
	require.NoError(t, WritePNG(path, g))
	back := readPNG(t, path)
	assert.Equal(t, g.Bounds(), back.Bounds())
}

// TestGridColour: RGB images (channels last) give an opaque colour grid,
// of any size.
func TestGridColour(t *testing.T) {
	// Two 1×2 images: red and green, then blue and half grey.
	ims := [][]float32{{1, 0, 0, 0, 1, 0}, {0, 0, 1, 0.5, 0.5, 0.5}}
	img, err := Grid(ims, 1, 2, 3, 1)
	require.NoError(t, err)
	c := img.(*image.RGBA)
	assert.Equal(t, image.Rect(0, 0, 2+2+2, 2*(1+2)+2), c.Bounds())
	assert.Equal(t, color.RGBA{255, 0, 0, 255}, c.RGBAAt(2, 2))
	assert.Equal(t, color.RGBA{0, 255, 0, 255}, c.RGBAAt(3, 2))
	assert.Equal(t, color.RGBA{0, 0, 255, 255}, c.RGBAAt(2, 5))
	assert.Equal(t, color.RGBA{128, 128, 128, 255}, c.RGBAAt(3, 5))
	assert.Equal(t, color.RGBA{0, 0, 0, 255}, c.RGBAAt(0, 0), "opaque black padding")
	path := filepath.Join(outDir(t), "grid_rgb.png")
	require.NoError(t, WritePNG(path, c))
	back := readPNG(t, path)
	r, g, b, _ := back.At(3, 5).RGBA()
	assert.Equal(t, [3]uint32{128, 128, 128}, [3]uint32{r >> 8, g >> 8, b >> 8})

	// A large non-square image works as a small one.
	big := make([]float32, 37*53*3)
	img, err = Grid([][]float32{big, big, big}, 37, 53, 3, 2)
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 2*(53+2)+2, 2*(37+2)+2), img.Bounds())
}

func TestGridErrors(t *testing.T) {
	_, err := Grid(nil, 2, 2, 1, 2)
	assert.Error(t, err)
	_, err = Grid([][]float32{{1, 2, 3}}, 2, 2, 1, 2)
	assert.ErrorContains(t, err, "image 0 has 3 pixels, want 2×2")
	_, err = Grid([][]float32{{1, 2, 3}}, 1, 1, 3, 2)
	require.NoError(t, err)
	_, err = Grid([][]float32{{1, 2}}, 1, 1, 3, 2)
	assert.ErrorContains(t, err, "image 0 has 2 values, want 1×1×3")
	_, err = Grid([][]float32{{1, 2}}, 1, 1, 2, 2)
	assert.Error(t, err)
}

func TestManifoldPoints(t *testing.T) {
	pts := ManifoldPoints(4)
	require.Len(t, pts, 16)
	// Symmetric about 0, increasing to the right and upwards.
	assert.InDelta(t, -pts[3][0], pts[0][0], 1e-6)
	assert.InDelta(t, -1.1503494, pts[0][0], 1e-6) // Φ⁻¹(1/8)
	assert.InDelta(t, -0.3186394, pts[1][0], 1e-6) // Φ⁻¹(3/8)
	assert.Equal(t, pts[0][0], pts[4][0])
	assert.Equal(t, pts[0][1], pts[1][1])
	assert.Greater(t, pts[0][1], pts[4][1])
	assert.InDelta(t, 1.1503494, pts[0][1], 1e-6)
}

func TestLossCurve(t *testing.T) {
	dir := outDir(t)
	for name, c := range map[string]struct{ train, test []float64 }{
		"loss_one_epoch.png": {[]float64{290}, []float64{270}},
		"loss_ten_epochs.png": {
			[]float64{284.7, 262.4, 256.3, 252.9, 250.7, 249.2, 248.0, 247.1, 246.3, 245.7},
			[]float64{262.4, 255.9, 252.8, 250.6, 249.3, 248.2, 247.4, 246.8, 246.2, 245.9},
		},
		"loss_nan.png": {[]float64{290, math.NaN()}, []float64{270}},
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, LossCurve(path, c.train, c.test), name)
		img := readPNG(t, path)
		assert.Equal(t, 6*96, img.Bounds().Dx(), name)
	}
}

func TestScatter(t *testing.T) {
	dir := outDir(t)
	r := rand.New(rand.NewPCG(1, 2))
	var pts [][2]float32
	var labels []int
	for i := range 2000 {
		l := i % 10
		a := float64(l) / 10 * 2 * math.Pi
		pts = append(pts, [2]float32{float32(2*math.Cos(a) + r.NormFloat64()*0.4), float32(2*math.Sin(a) + r.NormFloat64()*0.4)})
		labels = append(labels, l)
	}
	names := []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
	require.NoError(t, Scatter(filepath.Join(dir, "scatter.png"), "test", pts, labels, names))
	require.NoError(t, Scatter(filepath.Join(dir, "scatter_nolabels.png"), "test", pts, nil, nil))
	readPNG(t, filepath.Join(dir, "scatter.png"))
	assert.ErrorContains(t, Scatter(filepath.Join(dir, "x.png"), "", pts, labels[:3], nil), "3 labels for 2000 points")
}

func TestWritePNGError(t *testing.T) {
	err := WritePNG(filepath.Join(t.TempDir(), "missing", "x.png"), image.NewGray(image.Rect(0, 0, 1, 1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
}
