package viewer

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
)

// renderPNG answers with the first frame of the image in body as a PNG,
// turned upright, rendered by ImageMagick under the layer's security policy.
func (v *server) renderPNG(w http.ResponseWriter, r *http.Request, body io.Reader) {
	select {
	case v.previews <- struct{}{}:
		defer func() { <-v.previews }()
	case <-r.Context().Done():
		return
	}
	// A file, not a pipe: HEIC and TIFF decoders seek.
	tmp, err := os.CreateTemp("", "s3ic-viewer-preview-*")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = io.Copy(tmp, body)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, "reading the object: "+err.Error())
		return
	}
	var png, stderr bytes.Buffer
	cmd := exec.CommandContext(r.Context(), v.o.Magick, tmp.Name()+"[0]", "-auto-orient", "png:-")
	cmd.Stdout, cmd.Stderr = &png, &stderr
	if err := cmd.Run(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("ImageMagick could not render it: %v: %s", err, strings.TrimSpace(stderr.String())))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Content-Length", fmt.Sprint(png.Len()))
	h.Set("Cache-Control", "no-store")
	_, _ = png.WriteTo(w) // the page went away: nobody to tell
}
