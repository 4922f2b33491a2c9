package main

import (
	"errors"
	"io/fs"
	"testing"
)

func TestPanicErrorKeepsTheError(t *testing.T) {
	err := panicError(fs.ErrNotExist)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("panicError(fs.ErrNotExist) = %v, which errors.Is does not match to fs.ErrNotExist", err)
	}
	if got, want := panicError("Validation failed").Error(), "cdk: Validation failed"; got != want {
		t.Errorf("panicError(string) = %q, want %q", got, want)
	}
}
