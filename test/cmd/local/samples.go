package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// samples are made from ImageMagick's built-in images and patterns: the
// project commits no third-party image. Each is saved at high quality so there
// is something to compress. The layer's policy.xml, which this magick obeys,
// allows only some built-ins (rose:, stored as PNM, is denied).
var samples = []struct {
	name string
	args []string // between `magick` and the output file
}{
	{"wizard.jpg", []string{"wizard:", "-quality", "98"}},
	{"logo.png", []string{"logo:"}},
	{"logo-large.jpg", []string{"logo:", "-resize", "200%", "-quality", "95"}},
	{"netscape.png", []string{"netscape:", "-scale", "400%"}},
	{"plasma.jpg", []string{"-seed", "7", "-size", "1600x1200", "plasma:fractal", "-quality", "95"}},
	{"gradient.png", []string{"-size", "1200x800", "gradient:navy-skyblue"}},
	{"patterns.gif", []string{"-delay", "40", "-size", "320x240", "-seed", "5",
		"pattern:checkerboard", "gradient:red-blue", "plasma:fractal", "granite:", "-resize", "320x240!", "-loop", "0"}},
	{"orange-purple.webp", []string{"-seed", "3", "-size", "1024x768", "plasma:orange-purple", "-quality", "95"}},
	{"granite.tiff", []string{"granite:", "-resize", "800x800", "-compress", "none"}},
}

// ensureSamples generates the sample images into dir unless they are there.
func ensureSamples(ctx context.Context, magick, dir string) (string, error) {
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	fmt.Printf("generating %d sample images into %s with ImageMagick's built-in images\n", len(samples), dir)
	// Generated next to dir and renamed at the end, so an interrupted run
	// does not leave half a sample set that looks complete.
	staging := dir + ".tmp"
	if err := os.RemoveAll(staging); err != nil {
		return "", err
	}
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return "", err
	}
	for _, s := range samples {
		args := append(append([]string{}, s.args...), filepath.Join(staging, s.name))
		if out, err := exec.CommandContext(ctx, magick, args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("generating %s: magick %q: %w\n%s", s.name, args, err, out)
		}
	}
	return dir, os.Rename(staging, dir)
}
