package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The Lambda's environment variables. The stack sets them from Function.Environment;
// the function reads them with FromEnvironment; the local pipeline sets the same.
const (
	EnvSettings          = "COMPRESSOR_SETTINGS" // Settings as JSON
	EnvSourceBucket      = "SOURCE_BUCKET"
	EnvDestinationBucket = "DESTINATION_BUCKET"
	EnvFailureQueueURL   = "FAILURE_QUEUE_URL" // optional: where permanent failures are reported
)

// Function is everything one deployed function needs to know.
type Function struct {
	Settings          Settings
	SourceBucket      string
	DestinationBucket string
	FailureQueueURL   string
}

// Environment renders f as the Lambda's environment variables.
func (f Function) Environment() (map[string]string, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(f.Settings)
	if err != nil {
		return nil, fmt.Errorf("encode compressor settings: %w", err)
	}
	env := map[string]string{
		EnvSettings:          string(doc),
		EnvSourceBucket:      f.SourceBucket,
		EnvDestinationBucket: f.DestinationBucket,
	}
	if f.FailureQueueURL != "" {
		env[EnvFailureQueueURL] = f.FailureQueueURL
	}
	return env, nil
}

// FromEnvironment reads what Environment wrote; getenv is os.Getenv in the
// Lambda and a map lookup in tests.
func FromEnvironment(getenv func(string) string) (Function, error) {
	settings, err := Parse([]byte(getenv(EnvSettings)))
	if err != nil {
		return Function{}, fmt.Errorf("%s: %w", EnvSettings, err)
	}
	f := Function{
		Settings:          settings,
		SourceBucket:      getenv(EnvSourceBucket),
		DestinationBucket: getenv(EnvDestinationBucket),
		FailureQueueURL:   getenv(EnvFailureQueueURL),
	}
	return f, f.Validate()
}

// Validate refuses a function that could trigger itself: its writes land in
// the bucket it listens to, under the prefix it listens to.
func (f Function) Validate() error {
	var errs []error
	if f.SourceBucket == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvSourceBucket))
	}
	if f.DestinationBucket == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvDestinationBucket))
	}
	if f.SourceBucket != "" && f.SourceBucket == f.DestinationBucket && f.Settings.prefixesOverlap() {
		errs = append(errs, fmt.Errorf("source and destination are both bucket %q with overlapping prefixes %q and %q: every output would trigger the function again",
			f.SourceBucket, f.Settings.SourcePrefix, f.Settings.DestinationPrefix))
	}
	if err := f.Settings.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s Settings) prefixesOverlap() bool {
	return strings.HasPrefix(s.SourcePrefix, s.DestinationPrefix) || strings.HasPrefix(s.DestinationPrefix, s.SourcePrefix)
}
