package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Audit is the audit store's retention: how long records stay in the live
// database before `warden run` moves them into sealed archive files.
type Audit struct {
	// Retention is how long records stay in the live database, in whole
	// days ("90d"); 0 or absent: forever (no archiving). At the start of
	// each day (UTC) the first cycle archives the records older than
	// Retention, under the run lock it already holds.
	Retention Days `yaml:"retention"`
	// ArchiveDir is where the archive files go; empty: archive/ beside the
	// database.
	ArchiveDir string `yaml:"archive_dir"`
}

// MaxRetentionDays bounds audit.retention (ten years).
const MaxRetentionDays = 3650

// Days is a whole number of days written "90d" in the file.
type Days int

// Duration is d as a time.Duration.
func (d Days) Duration() time.Duration { return time.Duration(d) * 24 * time.Hour }

// String writes d as the file does: "90d"; "0" when zero.
func (d Days) String() string {
	if d == 0 {
		return "0"
	}
	return strconv.Itoa(int(d)) + "d"
}

// MarshalYAML writes d as "90d".
func (d Days) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads "90d" (or 0); anything else, such as "90", "2160h"
// or "3m", is an error naming the line.
func (d *Days) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDays(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		if err == nil {
			err = fmt.Errorf("not a scalar")
		}
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// ParseDays reads "Nd" with 1 ≤ N ≤ MaxRetentionDays, or "0".
func ParseDays(s string) (Days, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	num, ok := strings.CutSuffix(s, "d")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || num == "" || num[0] == '+' || num[0] == '-' {
		return 0, fmt.Errorf("%q is not a number of days like 90d (or 0 for no archiving)", s)
	}
	if n < 1 || n > MaxRetentionDays {
		return 0, fmt.Errorf("%q is outside 1d..%dd", s, MaxRetentionDays)
	}
	return Days(n), nil
}

// ArchiveDirFor is the archive directory: audit.archive_dir, or archive/
// beside db.
func (a Audit) ArchiveDirFor(db string) string {
	if a.ArchiveDir != "" {
		return a.ArchiveDir
	}
	return filepath.Join(filepath.Dir(db), "archive")
}

func (c Config) validateAudit() []error {
	var errs []error
	if c.Audit.Retention < 0 || c.Audit.Retention > MaxRetentionDays {
		errs = append(errs, fmt.Errorf("audit.retention: %d days is outside 1d..%dd", int(c.Audit.Retention), MaxRetentionDays))
	}
	if c.Audit.ArchiveDir != "" && strings.TrimSpace(c.Audit.ArchiveDir) == "" {
		errs = append(errs, fmt.Errorf("audit.archive_dir: a blank path"))
	}
	return errs
}
