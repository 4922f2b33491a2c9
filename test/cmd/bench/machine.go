package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/test/bench/report"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/tools"
)

// machine describes this host from /proc and /etc/os-release.
func machine() report.Machine {
	m := report.Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseInt(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0], 10, 64); err == nil {
		m.MemoryBytes = kb * 1024
	}
	m.OS = strings.Trim(procField("/etc/os-release", "PRETTY_NAME"), `"`)
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(k))
	}
	return m
}

// procField returns the value of the first "key: value" or "key=value" line.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read only
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			k, v, ok = strings.Cut(sc.Text(), "=")
		}
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// version asks a tool for its version line.
func version(ctx context.Context, tool, magick, root string) string {
	var args []string
	switch tool {
	case tools.Ours:
		rev := firstLineOf(ctx, "git", "-C", root, "describe", "--always", "--dirty")
		return "commit " + rev + ", " + magickVersion(ctx, magick) + ", libjpeg " + libjpeg(ctx, magick)
	case tools.TurboJPEG:
		args = []string{"cjpeg", "-version"}
	case tools.NaiveMagic:
		return magickVersion(ctx, tools.IM6) + " (Debian's, with the system's libjpeg-turbo)"
	case tools.OptiPNG:
		args = []string{"optipng", "-v"}
	case tools.CWebP:
		args = []string{"cwebp", "-version"}
	}
	return firstLineOf(ctx, args[0], args[1:]...)
}

// libjpeg names the libjpeg.so.62 the project's ImageMagick loads, as the
// dynamic linker resolves it in the harness's environment (LD_LIBRARY_PATH
// included): jpegli's or libjpeg-turbo's.
func libjpeg(ctx context.Context, magick string) string {
	core, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(magick)), "lib", "libMagickCore-7*.so"))
	if len(core) == 0 {
		return "unknown"
	}
	out, _ := exec.CommandContext(ctx, "ldd", core[0]).Output()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "libjpeg.so") {
			if _, path, ok := strings.Cut(line, "=> "); ok {
				path, _, _ = strings.Cut(path, " (")
				if dir := filepath.Base(filepath.Dir(path)); strings.Contains(path, "jpegli") || strings.Contains(dir, "jpegli") {
					return path + " (jpegli)"
				}
				return path
			}
		}
	}
	return "not linked"
}

// magickVersion is "ImageMagick 7.1.1-43 Q16 x86_64" from `magick -version`.
func magickVersion(ctx context.Context, magick string) string {
	v := strings.TrimPrefix(firstLineOf(ctx, magick, "-version"), "Version: ")
	if i := strings.Index(v, " https://"); i > 0 {
		v = v[:i]
	}
	return v
}

func firstLineOf(ctx context.Context, name string, args ...string) string {
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
