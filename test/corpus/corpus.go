// Package corpus lists the images the test module's tests and benchmarks run
// over: the shared corpus (with its MANIFEST.tsv categories), any directory
// of images, or, where neither exists, images generated with ImageMagick's
// built-in patterns. Package corpustest wraps it for tests.
package corpus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Categories from MANIFEST.tsv that are not images to compress but inputs to
// reject; they get their own rows in the report.
const (
	Malformed = "malformed"
	Bomb      = "bomb"
)

// Image is one input file.
type Image struct {
	Path     string
	Name     string
	Category string         // MANIFEST.tsv's category, "" without a manifest
	Format   outcome.Format // from the file's magic bytes, as the pipeline sees it; "" if unknown
	Bytes    int64
	// Width, Height and Frames as ImageMagick reads the header, else as
	// MANIFEST.tsv declares them (bombs exceed the policy's limits); 0 when
	// neither says.
	Width, Height, Frames int
	// Orientation is the EXIF orientation ImageMagick reads (1..8), 0 if none.
	Orientation int
}

// Class is the report group an image belongs to: its format, or malformed/bomb.
func (im Image) Class() string {
	switch {
	case im.Category == Malformed || im.Category == Bomb:
		return im.Category
	case im.Format == "":
		return "other"
	}
	return string(im.Format)
}

// Megapixels counts every frame: an animation costs per frame.
func (im Image) Megapixels() float64 {
	return float64(im.Width) * float64(im.Height) * float64(max(im.Frames, 1)) / 1e6
}

// Dir is the shared corpus: ../shared/corpus beside the checkout at root,
// never copied into it.
func Dir(root string) string { return filepath.Join(root, "..", "shared", "corpus") }

// Load lists dir's image files (everything but MANIFEST.tsv, README* and dot
// files), sorted by name, with categories from dir/MANIFEST.tsv when present
// and dimensions from `magick identify -ping`.
func Load(ctx context.Context, dir, magick string) ([]Image, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", dir, err)
	}
	manifest, err := readManifest(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		return nil, err
	}
	var images []Image
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || name == "MANIFEST.tsv" || strings.HasPrefix(name, "README") || strings.HasPrefix(name, ".") {
			continue
		}
		im, err := Describe(ctx, filepath.Join(dir, name), magick)
		if err != nil {
			return nil, err
		}
		entry := manifest[name]
		im.Category = entry.category
		if im.Width == 0 {
			if _, err := fmt.Sscanf(entry.size, "%dx%d", &im.Width, &im.Height); err == nil {
				im.Frames = 1
			}
		}
		images = append(images, im)
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("corpus %s: no image files", dir)
	}
	return images, nil
}

type manifestEntry struct{ category, size string }

// readManifest reads the file, category and WxH columns, found by the header row.
func readManifest(path string) (map[string]manifestEntry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("corpus manifest: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	entries := map[string]manifestEntry{}
	col := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(col) == 0 {
			for i, name := range cols {
				col[name] = i
			}
			continue
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(cols) {
				return cols[i]
			}
			return ""
		}
		entries[get("file")] = manifestEntry{category: get("category"), size: get("WxH")}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("corpus manifest %s: %w", path, err)
	}
	return entries, nil
}

// Describe reads an image file's format, size, dimensions and orientation;
// a file ImageMagick cannot identify keeps dimensions 0.
func Describe(ctx context.Context, path, magick string) (Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Image{}, fmt.Errorf("corpus: %w", err)
	}
	format, _ := outcome.Sniff(data)
	im := Image{Path: path, Name: filepath.Base(path), Format: format, Bytes: int64(len(data))}
	// Malformed files and bombs may not identify; they still belong in the run.
	identify(ctx, magick, &im)
	return im, nil
}

// identify fills in the first frame's size and orientation and the frame
// count, or leaves them 0.
func identify(ctx context.Context, magick string, im *Image) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, magick, "identify", "-ping", "-format", "%w %h %[orientation]\n", im.Path).Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) == 0 {
		return
	}
	f := strings.Fields(lines[0] + " Undefined")
	w, errW := strconv.Atoi(f[0])
	h, errH := strconv.Atoi(f[1])
	if errW != nil || errH != nil {
		return
	}
	im.Width, im.Height, im.Frames = w, h, len(lines)
	im.Orientation = slices.Index(orientations, f[2]) + 1
}

// orientations are ImageMagick's names of the EXIF orientations 1..8.
var orientations = []string{"TopLeft", "TopRight", "BottomRight", "BottomLeft", "LeftTop", "RightTop", "RightBottom", "LeftBottom"}
