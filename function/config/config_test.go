package config_test

import (
	"reflect"
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
		`{"jpegQuality":80}`:                          "unknown field",
		`{"sourcePrefix":""}`:                         "sourcePrefix is empty",
		`{"sourcePrefix":"/uploads/"}`:                "must not start with",
		`{"suffixes":[]}`:                             "suffixes is empty",
		`{"suffixes":[".jpg",""]}`:                    "empty entry",
		`{"suffixes":[".jpeg","jpeg"]}`:               "overlap",
		`{"suffixes":[".png",".png"]}`:                "overlap",
		`{"jpeg":{"quality":0}}`:                      "jpeg.quality 0",
		`{"png":{"compressionLevel":80}}`:             "png.compressionLevel 80",
		`{"jpeg":{"sampling":"4:1:1"}}`:               "jpeg.sampling",
		`{"webp":{"method":7}}`:                       "webp.method 7",
		`{"avif":{"quality":0}}`:                      "avif.quality 0",
		`{"limits":{"maxPixels":0}}`:                  "limits must be positive",
		`{"outputFormat":"webp"}`:                     `outputFormat moved into "outputs"`,
		`{"maxWidth":640}`:                            `maxWidth moved into "outputs"`,
		`{"outputs":[]}`:                              "outputs is empty",
		`{"outputs":[{"format":"webp","width":640}]}`: `unknown field "width"`,
		`{"outputs":[{"format":"original"},{"format":"bmp","suffix":"-b"}]}`:                `outputs[1] (bmp-b): format "bmp"`,
		`{"outputs":[{"maxWidth":640}]}`:                                                    `outputs[0] ( (max 640 x any)): format ""`,
		`{"outputs":[{"format":"webp","maxWidth":-1}]}`:                                     "outputs[0] (webp (max -1 x any)): maxWidth -1",
		`{"outputs":[{"format":"webp","maxHeight":20000}]}`:                                 "maxHeight 20000: want 0 (no limit) or 1..16384",
		`{"outputs":[{"format":"webp","suffix":"/small"}]}`:                                 `suffix "/small" contains "/"`,
		`{"outputs":[{"format":"jpeg","quality":101}]}`:                                     "quality 101: want 1..100",
		`{"outputs":[{"format":"png","quality":80}]}`:                                       "PNG output is lossless",
		`{"outputs":[` + strings.Repeat(`{"format":"webp"},`, 8) + `{"format":"webp"}]}`:    "at most 8",
		`{"outputs":[{"format":"webp"},{"format":"webp","maxWidth":640}]}`:                  "outputs[0] (webp) and outputs[1] (webp (max 640 x any)) would both write webp files to the same key",
		`{"outputs":[{"format":"original","suffix":"-s"},{"format":"jpeg","suffix":"-s"}]}`: "outputs[0] (original-s) and outputs[1] (jpeg-s) would both write jpeg files",
		`{"outputs":[{"format":"webp"},{"format":"original","maxWidth":100}]}`:              "would both write webp files",
		`{"webp":{"quality":101}}`:                                                          "webp.quality 101",
		`{"jpeg":{"targetScore":20}}`:                                                       "jpeg.targetScore 20",
		`{"webp":{"targetScore":100}}`:                                                      "webp.targetScore 100",
		`{"png":{"targetScore":-5}}`:                                                        "png.targetScore -5",
	} {
		if _, err := config.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("Parse(%s) error = %v, want one containing %q", doc, err, wantErr)
		}
	}
}

// A format's quality settings sit inline in its JSON object, so a per-format
// document names quality and targetScore side by side.
func TestLossyFieldsInline(t *testing.T) {
	s, err := config.Parse([]byte(`{"jpeg":{"targetScore":85},"webp":{"quality":70,"targetScore":80.5},"png":{"targetScore":75}}`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if s.JPEG.TargetScore != 85 || !s.JPEG.Searched() || s.JPEG.Quality != config.Default().JPEG.Quality {
		t.Errorf("jpeg = %+v, want targetScore 85 and the default quality", s.JPEG)
	}
	if s.WebP.Quality != 70 || s.WebP.TargetScore != 80.5 || s.PNG.TargetScore != 75 {
		t.Errorf("webp = %+v, png = %+v, want quality 70 and targetScore 80.5, png targetScore 75", s.WebP, s.PNG)
	}
	if (config.Lossy{Quality: 80}).Searched() {
		t.Error("targetScore 0 searched, want the fixed quality")
	}
	if o := (config.Output{Format: config.Original}); config.Default().OutputHash(o) == s.OutputHash(o) {
		t.Error("a target score does not change the settings hash")
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

func TestDefaultOutputs(t *testing.T) {
	s := config.Default()
	if len(s.Outputs) != 1 || s.Outputs[0] != (config.Output{Format: config.Original}) {
		t.Errorf("default outputs %+v, want one original output", s.Outputs)
	}
	// Outputs that cannot share a key: another format, or another suffix.
	s, err := config.Parse([]byte(`{"outputs":[{"format":"original"},{"format":"avif"},{"format":"webp","suffix":"-640","maxWidth":640},{"format":"original","suffix":"-1600","maxWidth":1600}]}`))
	if err != nil {
		t.Fatalf("Parse of distinct outputs: %v", err)
	}
	if len(s.Outputs) != 4 {
		t.Errorf("Parse kept %d outputs, want 4", len(s.Outputs))
	}
}

func TestOutputKey(t *testing.T) {
	s := config.Default()
	s.DestinationPrefix = "small/"
	webp640 := config.Output{Format: "webp", Suffix: "-640"}
	original := config.Output{Format: config.Original}
	tests := []struct {
		key  string
		o    config.Output
		want string
	}{
		{"uploads/a/b c.jpg", original, "small/a/b c.jpg"},
		{"uploads/a.JPG", original, "small/a.JPG"},
		{"uploads/a.jpeg", config.Output{Format: "jpeg"}, "small/a.jpeg"},
		{"uploads/photo.HEIC", original, "small/photo.jpg"},
		{"uploads/photo.avif", original, "small/photo.jpg"},
		{"uploads/photo.avif", config.Output{Format: "avif"}, "small/photo.avif"},
		{"uploads/photo.png", config.Output{Format: "webp"}, "small/photo.webp"},
		{"uploads/photo.WEBP", config.Output{Format: "webp"}, "small/photo.WEBP"},
		{"uploads/a.jpg", webp640, "small/a-640.webp"},
		{"uploads/a.jpg", config.Output{Format: config.Original, Suffix: "-640"}, "small/a-640.jpg"},
		{"uploads/a.jpg", config.Output{Format: "avif", Suffix: "@2x"}, "small/a@2x.avif"},
		{"uploads/v1.2/a.b.tif", config.Output{Format: config.Original, Suffix: "_s"}, "small/v1.2/a.b_s.tif"},
		// The name decides, whatever the bytes turn out to be.
		{"uploads/really-a-png.jpg", original, "small/really-a-png.jpg"},
		{"uploads/no-extension", original, "small/no-extension"},
		{"uploads/no-extension", webp640, "small/no-extension-640.webp"},
	}
	for _, tt := range tests {
		if got := s.OutputKey(tt.key, tt.o); got != tt.want {
			t.Errorf("OutputKey(%q, %s) = %q, want %q", tt.key, tt.o.Name(), got, tt.want)
		}
	}
}

func fixedQuality(s config.Settings) config.Settings {
	s.JPEG.TargetScore, s.WebP.TargetScore = 0, 0
	return s
}

func TestOutputHash(t *testing.T) {
	a := config.Default()
	original := a.Outputs[0]
	// The default target scores shape outputs differently from the earlier
	// fixed quality, so their outputs are redone; with fixed qualities the
	// hash is pinned: the one earlier versions wrote for their one output, so
	// upgraded deployments that keep those settings find their outputs done.
	if a.OutputHash(original) == fixedQuality(a).OutputHash(original) {
		t.Error("the default target score does not change the output hash")
	}
	a = fixedQuality(a)
	if got := a.OutputHash(original); got != "dfa0c432e9ad1ccb" {
		t.Errorf("default output hash %s, want the earlier versions' dfa0c432e9ad1ccb", got)
	}
	if got := a.OutputHash(config.Output{Format: "webp", MaxWidth: 640}); got != "e164c99ba0ea07c2" {
		t.Errorf("hash of a webp output at 640 px %s, want the earlier outputFormat webp, maxWidth 640 one e164c99ba0ea07c2", got)
	}

	b := a
	b.CacheControl = "no-cache"
	b.Limits.MaxFrames = 3
	b.MirrorDeletes = true
	b.AVIF.Quality = 30
	if a.OutputHash(original) != b.OutputHash(original) {
		t.Errorf("the original output's hash changed with settings that do not shape it")
	}
	avif := config.Output{Format: "avif"}
	if a.OutputHash(avif) == b.OutputHash(avif) {
		t.Errorf("the avif output's hash did not change with avif.quality")
	}
	b.JPEG.Quality = 60
	if a.OutputHash(original) == b.OutputHash(original) {
		t.Errorf("hash did not change with jpeg.quality")
	}
	for _, o := range []config.Output{{Format: config.Original, Suffix: "-s"}, {Format: config.Original, Quality: 70}, {Format: config.Original, MaxHeight: 10}, {Format: "png"}} {
		if a.OutputHash(o) == a.OutputHash(original) {
			t.Errorf("output %+v has the hash of the plain original output", o)
		}
	}
}

func TestForOutput(t *testing.T) {
	s := config.Default()
	if got := s.ForOutput(config.Output{Format: "webp"}); got.WebP != s.WebP || got.JPEG != s.JPEG {
		t.Errorf("ForOutput without quality changed the settings: %+v", got)
	}
	got := s.ForOutput(config.Output{Format: config.Original, Quality: 55})
	if got.JPEG.Quality != 55 || got.WebP.Quality != 55 || got.AVIF.Quality != 55 || got.JPEG.Sampling != s.JPEG.Sampling {
		t.Errorf("ForOutput with quality 55 = %+v, want every lossy quality 55 and the rest unchanged", got)
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
	if got.SourceBucket != "in" || got.DestinationBucket != "out" || got.FailureQueueURL != f.FailureQueueURL || !reflect.DeepEqual(got.Settings, f.Settings) {
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
