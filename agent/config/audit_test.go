package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditRetention(t *testing.T) {
	c, err := Parse("t.yaml", []byte("audit:\n  retention: 90d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.Retention != 90 || c.Audit.Retention.Duration() != 90*24*time.Hour {
		t.Errorf("retention = %v; want 90d", c.Audit.Retention)
	}
	if d := Default(); d.Audit.Retention != 0 || d.Audit.ArchiveDirFor("/x/warden.db") != "/x/archive" {
		t.Errorf("default audit = %+v; want no retention, archive/ beside the db", d.Audit)
	}
	for _, ok := range []struct {
		in   string
		want Days
	}{{"0", 0}, {"1d", 1}, {"3650d", 3650}} {
		c, err := Parse("t.yaml", []byte("audit:\n  retention: "+ok.in+"\n"))
		if err != nil || c.Audit.Retention != ok.want {
			t.Errorf("retention %s = %v, %v; want %v", ok.in, c.Audit.Retention, err, ok.want)
		}
	}
	// The limits and one step beyond; other units and shapes.
	for _, in := range []string{"0d", "3651d", "-1d", "+5d", "90", "2160h", "3m", "d", "1.5d", "[90d]", "ninety"} {
		_, err := Parse("t.yaml", []byte("audit:\n  retention: "+in+"\n"))
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("retention %s: err = %v; want an error naming line 2", in, err)
		}
	}
	if _, err := Parse("t.yaml", []byte("audit:\n  retension: 90d\n")); err == nil {
		t.Error("a misspelt key was accepted")
	}
	if _, err := Parse("t.yaml", []byte("audit:\n  archive_dir: \"  \"\n")); err == nil || !strings.Contains(err.Error(), "audit.archive_dir") {
		t.Errorf("blank archive_dir: err = %v", err)
	}
}

func TestAuditArchiveDirFromTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte("db: data/w.db\naudit:\n  retention: 30d\n  archive_dir: old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Audit.ArchiveDirFor(c.DB); got != filepath.Join(dir, "old") {
		t.Errorf("archive dir = %s; want %s", got, filepath.Join(dir, "old"))
	}
	c.Audit.ArchiveDir = ""
	if got := c.Audit.ArchiveDirFor(c.DB); got != filepath.Join(dir, "data", "archive") {
		t.Errorf("default archive dir = %s; want beside the db", got)
	}
}
