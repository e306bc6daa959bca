package policy

import (
	"bytes"
	_ "embed"
)

//go:embed default.yaml
var defaultSource []byte

//go:embed default_test.yaml
var defaultTestsSource []byte

// DefaultFile is the name the embedded default policy reports in errors and
// is written out as by `warden policy init`.
const DefaultFile = "default.yaml"

// DefaultTestsFile is the name of the default policy's test file.
const DefaultTestsFile = "default_test.yaml"

// DefaultSource returns a copy of the embedded default policy file.
func DefaultSource() []byte { return bytes.Clone(defaultSource) }

// DefaultTestsSource returns a copy of the embedded tests of the default policy.
func DefaultTestsSource() []byte { return bytes.Clone(defaultTestsSource) }

// Default compiles the embedded default policy. It is compiled on every
// call (no package state); callers keep the result.
func Default() (*Policy, error) { return Load(DefaultFile, defaultSource) }
