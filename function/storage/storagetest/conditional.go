package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
)

// CheckConditionalWrites proves against whatever S3 API d talks to (the
// in-process one, MinIO) that a write based on a stale read of key loses with
// storage.ErrConflict instead of replacing what another writer stored
// meanwhile, and that a write based on the current state wins. It leaves key
// deleted.
func CheckConditionalWrites(t testing.TB, d *storage.Destination, key string) {
	t.Helper()
	ctx := context.Background()
	out := func(body string) storage.Output {
		return storage.Output{Key: key, Body: []byte(body), ContentType: "text/plain"}
	}
	current := func() storage.Current {
		t.Helper()
		c, err := d.Current(ctx, key)
		if err != nil {
			t.Fatalf("Current(%s): %v", key, err)
		}
		return c
	}

	none := current()
	if err := d.Put(ctx, out("first"), none); err != nil {
		t.Fatalf("Put over nothing: %v", err)
	}
	if err := d.Put(ctx, out("late"), none); !errors.Is(err, storage.ErrConflict) || storage.Permanent(err) {
		t.Errorf("Put over nothing when there is an object: %v, want ErrConflict (not permanent)", err)
	}
	first := current()
	if err := d.Put(ctx, out("second"), first); err != nil {
		t.Fatalf("Put over the current object: %v", err)
	}
	if err := d.Put(ctx, out("stale"), first); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("Put over a replaced object: %v, want ErrConflict", err)
	}
	second := current()
	if second.Size != int64(len("second")) {
		t.Errorf("the object is %d bytes, want the write that read the current state (%q)", second.Size, "second")
	}
	if err := d.Delete(ctx, second); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if c := current(); c.Exists() {
		t.Errorf("the object survived its Delete: %+v", c)
	}
}
