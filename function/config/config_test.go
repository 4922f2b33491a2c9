package config_test

import (
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
)

func TestParseKeepsDefaultsForUnnamedFields(t *testing.T) {
	s, err := config.Parse([]byte(`{"jpeg":{"quality":70}}`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := config.Default()
	want.JPEG.Quality = 70
	if s.JPEG != want.JPEG || s.PNG != want.PNG || s.SourcePrefix != want.SourcePrefix {
		t.Errorf("Parse = %+v, want defaults with jpeg.quality 70", s)
	}
	if _, err := config.Parse(nil); err != nil {
		t.Errorf("Parse(empty) = %v, want the valid defaults", err)
	}
}

func TestParseRejects(t *testing.T) {
	for doc, wantErr := range map[string]string{
		`{"jpegQuality":80}`:              "unknown field",
		`{"sourcePrefix":""}`:             "sourcePrefix is empty",
		`{"sourcePrefix":"/uploads/"}`:    "must not start with",
		`{"suffixes":[]}`:                 "suffixes is empty",
		`{"suffixes":[".jpg",""]}`:        "empty entry",
		`{"suffixes":[".jpeg","jpeg"]}`:   "overlap",
		`{"suffixes":[".png",".png"]}`:    "overlap",
		`{"jpeg":{"quality":0}}`:          "jpeg.quality 0",
		`{"png":{"compressionLevel":80}}`: "png.compressionLevel 80",
		`{"jpeg":{"sampling":"4:1:1"}}`:   "jpeg.sampling",
		`{"webp":{"method":7}}`:           "webp.method 7",
		`{"outputFormat":"bmp"}`:          "outputFormat \"bmp\"",
		`{"maxWidth":-1}`:                 "maxWidth",
		`{"limits":{"maxPixels":0}}`:      "limits must be positive",
	} {
		if _, err := config.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("Parse(%s) error = %v, want one containing %q", doc, err, wantErr)
		}
	}
}

func TestDefaultSuffixesCoverUpperCase(t *testing.T) {
	s := config.Default()
	for _, key := range []string{"uploads/a.jpg", "uploads/b.JPG", "uploads/c d/e.png", "uploads/f.HEIC"} {
		if !s.Matches(key) {
			t.Errorf("Matches(%q) = false, want true", key)
		}
	}
	for _, key := range []string{"other/a.jpg", "uploads/a.txt", "uploads/a.Jpg", "a.jpg"} {
		if s.Matches(key) {
			t.Errorf("Matches(%q) = true, want false", key)
		}
	}
}

func TestDestinationKey(t *testing.T) {
	s := config.Default()
	s.DestinationPrefix = "small/"
	tests := []struct{ key, ext, want string }{
		{"uploads/a/b c.jpg", "", "small/a/b c.jpg"},
		{"uploads/photo.HEIC", ".jpg", "small/photo.jpg"},
		{"uploads/photo.png", ".webp", "small/photo.webp"},
		{"uploads/photo.WEBP", ".webp", "small/photo.WEBP"},
	}
	for _, tt := range tests {
		if got := s.DestinationKey(tt.key, tt.ext); got != tt.want {
			t.Errorf("DestinationKey(%q, %q) = %q, want %q", tt.key, tt.ext, got, tt.want)
		}
	}
}

func TestHashChangesWithOutputShapeOnly(t *testing.T) {
	a := config.Default()
	b := config.Default()
	b.CacheControl = "no-cache"
	b.Limits.MaxFrames = 3
	if a.Hash() != b.Hash() {
		t.Errorf("Hash changed with settings that do not shape the output")
	}
	b.JPEG.Quality = 60
	if a.Hash() == b.Hash() {
		t.Errorf("Hash did not change with jpeg.quality")
	}
}

func TestEnvironmentRoundTrip(t *testing.T) {
	f := config.Function{Settings: config.Default(), SourceBucket: "in", DestinationBucket: "out", FailureQueueURL: "file:///tmp/f.jsonl"}
	env, err := f.Environment()
	if err != nil {
		t.Fatalf("Environment: %v", err)
	}
	got, err := config.FromEnvironment(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("FromEnvironment: %v", err)
	}
	if got.SourceBucket != "in" || got.DestinationBucket != "out" || got.FailureQueueURL != f.FailureQueueURL || got.Settings.Hash() != f.Settings.Hash() {
		t.Errorf("round trip = %+v, want %+v", got, f)
	}
}

func TestFunctionRefusesLoops(t *testing.T) {
	tests := []struct {
		name           string
		src, dst       string
		srcPfx, dstPfx string
		wantErr        string
	}{
		{"same bucket same prefix", "b", "b", "uploads/", "uploads/", "overlapping prefixes"},
		{"same bucket nested prefix", "b", "b", "uploads/", "uploads/small/", "overlapping prefixes"},
		{"same bucket root destination", "b", "b", "uploads/", "", "overlapping prefixes"},
		{"missing destination", "b", "", "uploads/", "out/", "DESTINATION_BUCKET is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := config.Default()
			s.SourcePrefix, s.DestinationPrefix = tt.srcPfx, tt.dstPfx
			err := config.Function{Settings: s, SourceBucket: tt.src, DestinationBucket: tt.dst}.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	s := config.Default()
	s.DestinationPrefix = "compressed/"
	if err := (config.Function{Settings: s, SourceBucket: "b", DestinationBucket: "b"}).Validate(); err != nil {
		t.Errorf("same bucket with disjoint prefixes: Validate = %v, want nil", err)
	}
}
