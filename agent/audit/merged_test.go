package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWithArchivesReadsOneChain: after two archives, the merged view holds
// every record as it was before archiving (an export of it starts with the
// export taken before, byte for byte, then the archive records), an
// archived run reads back with its full prompt. A missing or edited archive file is refused with its name.
func TestWithArchivesReadsOneChain(t *testing.T) {
	ctx := context.Background()
	s, _, _, dir := archiveStore(t)
	var before bytes.Buffer
	if err := s.ExportRecords(ctx, &before); err != nil {
		t.Fatal(err)
	}
	storyBefore, err := s.Show(ctx, "r00030")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []int{3, 6} {
		if _, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(time.Duration(d) * 24 * time.Hour), Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Show(ctx, "r00030"); err == nil {
		t.Fatal("an archived run is still in the live database")
	}
	m, err := s.WithArchives(ctx, dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var after bytes.Buffer
	if err := m.ExportRecords(ctx, &after); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(after.Bytes(), before.Bytes()) {
		t.Fatalf("the merged export does not start with the export taken before archiving (%d and %d bytes)", after.Len(), before.Len())
	}
	rest := strings.Split(strings.TrimSpace(after.String()[before.Len():]), "\n")
	if len(rest) != 2 || !strings.Contains(rest[0], `"kind":"archive"`) || !strings.Contains(rest[1], `"kind":"archive"`) {
		t.Errorf("after the old records the merged export has %d lines; want the 2 archive records", len(rest))
	}
	story, err := m.Show(ctx, "r00030")
	if err != nil || len(story.LLMCalls) != 1 || story.LLMCalls[0].Request != storyBefore.LLMCalls[0].Request {
		t.Fatalf("archived run read through the merged view: %v; want its full prompt back", err)
	}
	if rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{}); err != nil || !rep.OK {
		t.Errorf("verify --archive: %+v, %v", rep, err)
	}
	runs, err := m.ListRuns(ctx, RunFilter{})
	if err != nil || len(runs) != 240 {
		t.Errorf("merged runs = %d, %v; want all 240", len(runs), err)
	}

	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl.gz"))
	if len(files) != 2 {
		t.Fatalf("archive files: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	edited := append([]byte(nil), data...)
	edited[len(edited)/2] ^= 1
	if err := os.WriteFile(files[0], edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WithArchives(ctx, dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), filepath.Base(files[0])) {
		t.Errorf("edited archive: err = %v; want it named", err)
	}
	os.Remove(files[0])
	if _, err := s.WithArchives(ctx, dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), filepath.Base(files[0])) {
		t.Errorf("missing archive: err = %v; want it named", err)
	}
}

// TestExportRecordsCarriesBlobs: each exported record whose body refers to
// blobs carries their texts, which hash to their names and rebuild the
// prompt byte for byte.
func TestExportRecordsCarriesBlobs(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, Options{})
	req := openAIRequest(systemText, "market data "+strings.Repeat("50000.5 ", 200))
	if err := s.RecordLLMCall(ctx, LLMCall{RunID: "r1", Attempt: 1, Request: req, Response: strings.Repeat(`{"x":1}`, 100), Status: "ok"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := s.ExportRecords(ctx, &out); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	var found bool
	for sc.Scan() {
		var r RawRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind != KindLLMCall {
			continue
		}
		found = true
		var c LLMCall
		if err := json.Unmarshal(r.Body, &c); err != nil {
			t.Fatal(err)
		}
		if len(c.RequestParts) == 0 || len(r.Blobs) < 2 {
			t.Fatalf("the call record has %d parts and carries %d blobs; want the static parts as blobs", len(c.RequestParts), len(r.Blobs))
		}
		var sb strings.Builder
		for _, p := range c.RequestParts {
			if p.Blob == "" {
				sb.WriteString(p.Text)
				continue
			}
			text, ok := r.Blobs[p.Blob]
			if !ok || blobHash([]byte(text)) != p.Blob {
				t.Fatalf("blob %s missing from the export or not matching its hash", p.Blob)
			}
			sb.WriteString(text)
		}
		if sb.String() != req {
			t.Errorf("the request rebuilt from the export differs from the one sent")
		}
		if text, ok := r.Blobs[c.ResponseBlob]; c.ResponseBlob == "" || !ok || text != strings.Repeat(`{"x":1}`, 100) {
			t.Errorf("the response is not in the export's blobs")
		}
	}
	if !found {
		t.Fatal("no model call exported")
	}
}
