package walls_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/s3-image-compressor/s3-image-compressor/test/local"
	"github.com/s3-image-compressor/s3-image-compressor/test/walls"
)

func TestWallsHold(t *testing.T) {
	root, err := local.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	violations, err := walls.Check(root, walls.Rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Error(v)
	}
}

// TestCheckFindsPlantedViolations runs the same rules over the workspace of
// testdata/planted.txtar, which breaks each of them.
func TestCheckFindsPlantedViolations(t *testing.T) {
	archive, err := txtar.ParseFile(filepath.Join("testdata", "planted.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := txtar.FS(archive)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.CopyFS(root, fsys); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOPROXY", "off") // everything is local; nothing may be fetched

	violations, err := walls.Check(root, walls.Rules)
	if err != nil {
		t.Fatal(err)
	}
	var report []string
	for _, v := range violations {
		report = append(report, v.String())
	}
	t.Logf("the checker's report on the planted workspace:\n%s", strings.Join(report, "\n"))
	for i, want := range []string{
		walls.Rules[0].Name + ": function/handler imports github.com/aws/jsii-runtime-go",
		walls.Rules[1].Name + ": function/outcome imports github.com/aws/aws-sdk-go-v2/aws",
		walls.Rules[1].Name + ": function/pipeline imports github.com/aws/aws-sdk-go-v2/aws (function/pipeline -> function/outcome -> github.com/aws/aws-sdk-go-v2/aws)",
		walls.Rules[2].Name + ": function/pipeline/strip imports net/http",
		walls.Rules[2].Name + ": function/pipeline/strip imports os",
		walls.Rules[3].Name + ": infra imports function/handler",
	} {
		found := false
		for _, line := range report {
			found = found || strings.HasPrefix(line, want)
		}
		if !found {
			t.Errorf("planted violation %d not reported: want a line starting %q", i, want)
		}
	}
	if len(report) != 6 {
		t.Errorf("%d violations reported, want exactly the 6 planted ones", len(report))
	}
}
