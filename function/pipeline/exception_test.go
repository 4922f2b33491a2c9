package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// TestClassify feeds real ImageMagick failures through classify. The
// security policy's refusals cannot be reached through Process (the
// allowlist stops those inputs first), so they are provoked directly.
// TestMain (main_test.go) has initialized ImageMagick.
func TestClassify(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.png")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	failure := func(read func(mw *imagick.MagickWand) error) func() error {
		return func() error {
			mw := imagick.NewMagickWand()
			defer mw.Destroy()
			err := read(mw)
			if err == nil {
				t.Fatal("the operation succeeded; the test needs it to fail")
			}
			return err
		}
	}
	deadline, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  func() error
		word string // "" means a retryable error, not a rejection
	}{
		{"indirect read denied by policy", context.Background(), failure(func(mw *imagick.MagickWand) error { return mw.ReadImage("@" + file) }), outcome.ReasonPolicyDenied},
		// MNG is registered (it lives in the PNG coder) but not allowed.
		{"coder denied by policy", context.Background(), failure(func(mw *imagick.MagickWand) error { return mw.ReadImage("mng:" + file) }), outcome.ReasonPolicyDenied},
		{"garbage", context.Background(), failure(func(mw *imagick.MagickWand) error {
			return mw.ReadImageBlob([]byte("\x89PNG\r\n\x1a\nxxxxxxxxxxxxxxxxxxxxxxxx"))
		}), outcome.ReasonCorrupt},
		{"time limit with a deadline", deadline, func() error { return timeLimitError(t) }, ""},
		{"time limit without a deadline", context.Background(), func() error { return timeLimitError(t) }, outcome.ReasonTooSlow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.err()
			err := classify(tc.ctx, "decode", in)
			var r *rejection
			switch {
			case tc.word == "" && (errors.As(err, &r) || !errors.Is(err, context.DeadlineExceeded)):
				t.Errorf("classify(%v) = %v, want a retryable error wrapping context.DeadlineExceeded", in, err)
			case tc.word != "" && (!errors.As(err, &r) || !strings.HasPrefix(r.reason, tc.word+": ")):
				t.Errorf("classify(%v) = %v, want a rejection with %q", in, err, tc.word)
			}
		})
	}
}

// timeLimitError makes ImageMagick's time limit run out: a one-second limit,
// then an operation on an image created more than a second earlier.
func timeLimitError(t *testing.T) error {
	t.Helper()
	defer func() {
		if !imagick.SetResourceLimit(imagick.RESOURCE_TIME, 1<<62) {
			t.Error("could not reset the time limit")
		}
	}()
	if !imagick.SetResourceLimit(imagick.RESOURCE_TIME, 1) {
		t.Fatal("could not set the time limit")
	}
	mw := imagick.NewMagickWand()
	defer mw.Destroy()
	if err := mw.SetSize(500, 500); err != nil {
		t.Fatal(err)
	}
	if err := mw.ReadImage("xc:red"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	err := mw.ResizeImage(400, 400, imagick.FILTER_LANCZOS)
	if err == nil {
		t.Fatal("the time limit did not run out")
	}
	return err
}

// TestDeriveFailureIsARejection: CoalesceImages on a wand without images
// returns a wand around nothing; derive must turn that into a rejection (not
// an error, not a crash on the next call) and give back the wand count that
// Terminate in TestMain waits for.
func TestDeriveFailureIsARejection(t *testing.T) {
	j := &job{ctx: context.Background(), mw: imagick.NewMagickWand()}
	defer j.close()
	err := j.derive("coalesce", j.mw.CoalesceImages())
	var r *rejection
	if !errors.As(err, &r) || outcome.Word(r.reason) != outcome.ReasonCorrupt {
		t.Errorf("derive of a failed CoalesceImages = %v, want a %q rejection", err, outcome.ReasonCorrupt)
	}
	if !j.mw.IsVerified() {
		t.Error("the job lost its wand")
	}
}
