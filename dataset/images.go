package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // registers the decoders image.Decode uses
	_ "image/jpeg"
	_ "image/png"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// imageExts are the file names read as images; other files are ignored,
// as torchvision's ImageFolder ignores them.
var imageExts = []string{".png", ".jpg", ".jpeg", ".gif"}

// maxImagePixels bounds the size an image file may declare, so that a
// damaged header cannot make the decoder allocate gigabytes.
var maxImagePixels = 1 << 26

func isImageName(name string) bool {
	return slices.Contains(imageExts, strings.ToLower(path.Ext(name)))
}

func hidden(name string) bool { return strings.HasPrefix(name, ".") }

// ImageFolderOptions says how to read a folder of images.
type ImageFolderOptions struct {
	// Classes are class names already numbered (by the training data), so
	// that a test folder numbers its subfolders alike; names not among
	// them follow, sorted.
	Classes []string
}

// readImageFolder reads the images under root of fsys: one subfolder per
// class (torchvision's ImageFolder: root/CLASS/…/file.png, classes sorted
// by name, labels their numbers), or images directly in root (no labels).
// Files are read in sorted order. All images must be of one size; the set
// is grey-scale when every image is, RGB otherwise. Alpha is dropped.
func readImageFolder(fsys fs.FS, source string, o ImageFolderOptions) (*Set, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var dirs, files []string
	for _, e := range entries {
		switch {
		case hidden(e.Name()):
		case e.IsDir():
			dirs = append(dirs, e.Name())
		case isImageName(e.Name()):
			files = append(files, e.Name())
		}
	}
	var paths []string
	var labels []int
	var classes []string
	switch {
	case len(dirs) > 0 && len(files) > 0:
		return nil, fmt.Errorf("%s: has both images (%s) and folders (%s/): want one folder per class, or images only", source, files[0], dirs[0])
	case len(dirs) > 0:
		idx := newClassIndex(o.Classes)
		for _, d := range dirs { // sorted, as fs.ReadDir returns them
			label := idx.id(d)
			n := 0
			err := fs.WalkDir(fsys, d, func(p string, e fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if p != d && hidden(e.Name()) {
					if e.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
				if !e.IsDir() && isImageName(p) {
					paths = append(paths, p)
					labels = append(labels, label)
					n++
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", source, err)
			}
			if n == 0 {
				return nil, fmt.Errorf("%s: class folder %s/ has no images (%s)", source, d, strings.Join(imageExts, ", "))
			}
		}
		classes = idx.names
	case len(files) > 0:
		paths = files
	default:
		return nil, fmt.Errorf("%s: no images (%s) and no class folders", source, strings.Join(imageExts, ", "))
	}

	var s *Set
	var rows, cols int
	var firstPath string
	for i, p := range paths {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		name := filepath.Join(source, filepath.FromSlash(p))
		cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: not a readable image: %v", name, imageError(err))
		}
		if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxImagePixels/max(cfg.Height, 1) {
			return nil, fmt.Errorf("%s: an image of %d×%d pixels", name, cfg.Width, cfg.Height)
		}
		if i == 0 {
			rows, cols, firstPath = cfg.Height, cfg.Width, name
		} else if cfg.Width != cols || cfg.Height != rows {
			return nil, fmt.Errorf("%s: %d×%d pixels (rows×columns), but %s is %d×%d: all images must be of one size",
				name, cfg.Height, cfg.Width, firstPath, rows, cols)
		}
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: not a readable image: %v", name, imageError(err))
		}
		if bd := img.Bounds(); bd.Dx() != cols || bd.Dy() != rows {
			return nil, fmt.Errorf("%s: decodes to %d×%d pixels, its header says %d×%d", name, bd.Dy(), bd.Dx(), rows, cols)
		}
		grey := isGrey(img)
		if s == nil {
			ch := 3
			if grey {
				ch = 1
			}
			s = newBytesSet(imageShape(rows, cols, ch), make([]byte, len(paths)*rows*cols*ch), source)
		} else if !grey && s.Shape[len(s.Shape)-1] != 3 {
			s.toRGB()
		}
		pixels(s.u8[i*s.dim:(i+1)*s.dim], img, s.dim/(rows*cols))
	}
	if labels != nil {
		s.Labels, s.Classes = labels, classes
	}
	return s, nil
}

func imageShape(rows, cols, channels int) []int {
	if channels == 1 {
		return []int{rows, cols}
	}
	return []int{rows, cols, channels}
}

// imageError drops the decoders' package prefixes ("png: ", "image: ").
func imageError(err error) string {
	if errors.Is(err, image.ErrFormat) {
		return "unknown format (want PNG, JPEG or GIF)"
	}
	msg := err.Error()
	for _, p := range []string{"png: ", "gif: ", "image: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if msg == "unexpected EOF" {
		return "truncated"
	}
	return msg
}

// toRGB turns the grey-scale images read so far into RGB, for a folder
// whose later images are in colour.
func (s *Set) toRGB() {
	rgb := make([]byte, 3*len(s.u8))
	for i, v := range s.u8 {
		rgb[3*i], rgb[3*i+1], rgb[3*i+2] = v, v, v
	}
	s.u8, s.dim = rgb, 3*s.dim
	s.Shape = []int{s.Shape[0], s.Shape[1], 3}
}

// isGrey reports whether an image is stored as grey-scale.
func isGrey(img image.Image) bool {
	switch m := img.(type) {
	case *image.Gray, *image.Gray16:
		return true
	case *image.Paletted:
		for _, c := range m.Palette {
			r, g, b, a := c.RGBA()
			if r != g || g != b || a != 0xffff {
				return false
			}
		}
		return true
	}
	return false
}

// pixels writes img into dst, row-major, one byte per pixel (channels 1:
// grey; 16-bit grey keeps its top 8 bits) or three (channels 3: R, G, B,
// without alpha, as PIL's convert("RGB")).
func pixels(dst []byte, img image.Image, channels int) {
	b := img.Bounds()
	w := b.Dx()
	if channels == 1 {
		if g, ok := img.(*image.Gray); ok {
			for y := range b.Dy() {
				copy(dst[y*w:(y+1)*w], g.Pix[y*g.Stride:])
			}
			return
		}
		for y := range b.Dy() {
			for x := range w {
				dst[y*w+x] = color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
			}
		}
		return
	}
	for y := range b.Dy() {
		row := dst[3*y*w : 3*(y+1)*w]
		switch m := img.(type) {
		case *image.RGBA: // the PNG decoder's opaque colour images
			copyRGB(row, m.Pix[y*m.Stride:y*m.Stride+4*w])
		case *image.NRGBA:
			copyRGB(row, m.Pix[y*m.Stride:y*m.Stride+4*w])
		case *image.YCbCr:
			for x := range w {
				yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
				row[3*x], row[3*x+1], row[3*x+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
		default:
			for x := range w {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				row[3*x], row[3*x+1], row[3*x+2] = c.R, c.G, c.B
			}
		}
	}
}

func copyRGB(dst, rgba []byte) {
	for x := 0; 4*x < len(rgba); x++ {
		dst[3*x], dst[3*x+1], dst[3*x+2] = rgba[4*x], rgba[4*x+1], rgba[4*x+2]
	}
}
