package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// TestExpectHeadFindsADeletedTail: records deleted from the end leave a
// valid shorter chain that Verify alone accepts; the head noted earlier
// finds it, at the limit (the noted seq is the last) and one step beyond,
// and also after another process appended new records where the deleted
// ones were.
func TestExpectHeadFindsADeletedTail(t *testing.T) {
	ctx := context.Background()
	s, path := writeSome(t, 10)
	seq, hash, err := s.Head(ctx)
	if err != nil || seq != 10 || len(hash) != 64 {
		t.Fatalf("Head = %d %q %v", seq, hash, err)
	}
	for _, o := range []VerifyOptions{{ExpectSeq: 10, ExpectHash: hash}, {ExpectHash: strings.ToUpper(hash)}} {
		if rep, err := s.VerifyWith(ctx, o); err != nil || !rep.OK {
			t.Fatalf("VerifyWith(%+v) on the intact chain = %+v %+v, %v", o, rep, rep.Broken, err)
		}
	}
	// The head one step beyond the chain: refused.
	if rep, _ := s.VerifyWith(ctx, VerifyOptions{ExpectSeq: 11, ExpectHash: hash}); rep.OK || rep.Broken.Problem != "deleted" || rep.Broken.Seq != 11 {
		t.Errorf("VerifyWith(seq 11) = %+v; want deleted at 11", rep.Broken)
	}
	db := rawDB(t, path)
	for _, q := range []string{`DROP TRIGGER records_no_delete`, `DELETE FROM records WHERE seq >= 8`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	other := openAt(t, path, Options{}) // another process: it never saw seq 10
	if rep, err := other.Verify(ctx); err != nil || !rep.OK || rep.HeadSeq != 7 {
		t.Fatalf("Verify() alone after a tail deletion = %+v, %v; want a valid chain of 7 (why the head is published)", rep, err)
	}
	rep, err := other.VerifyWith(ctx, VerifyOptions{ExpectSeq: 10, ExpectHash: hash})
	if err != nil || rep.OK || rep.Broken.Problem != "deleted" || rep.Broken.Seq != 8 || !strings.Contains(rep.Broken.Detail, "records 8..10 were deleted") {
		t.Errorf("VerifyWith(10:hash) after deleting 8..10 = %+v, %v", rep.Broken, err)
	}
	rep, _ = other.VerifyWith(ctx, VerifyOptions{ExpectHash: hash})
	if rep.OK || rep.Broken.Problem != "deleted" {
		t.Errorf("VerifyWith(hash) after deleting 8..10 = %+v", rep.Broken)
	}
	// New records take seqs 8..12: the chain is valid and longer, but seq
	// 10 is not the record noted.
	for i := 0; i < 5; i++ {
		if err := other.AppendOrderEvent(ctx, orderEvent(fmt.Sprint("n", i), schemas.OrderIntent, time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	rep, _ = other.VerifyWith(ctx, VerifyOptions{ExpectSeq: 10, ExpectHash: hash})
	if rep.OK || rep.Broken.Problem != "edited" || rep.Broken.Seq != 10 {
		t.Errorf("VerifyWith(10:hash) after new records replaced the tail = %+v; want seq 10 rewritten", rep.Broken)
	}
}

func TestParseHead(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in      string
		seq     int64
		wantErr bool
	}{
		{"12:" + h, 12, false},
		{h, 0, false},
		{" 3:" + strings.ToUpper(h) + "\n", 3, false},
		{"0:" + h, 0, true},
		{"-1:" + h, 0, true},
		{"x:" + h, 0, true},
		{"12:" + h[:62], 0, true},
		{"12:" + h + "ab", 0, true},
		{"", 0, true},
		{"12:" + strings.Repeat("zz", 32), 0, true},
	} {
		seq, hash, err := ParseHead(tc.in)
		if (err != nil) != tc.wantErr || !tc.wantErr && (seq != tc.seq || hash != h) {
			t.Errorf("ParseHead(%q) = %d %q %v", tc.in, seq, hash, err)
		}
	}
}

// TestExpectHeadAfterArchiving: a head noted before its records were
// archived (as retention does to every daily head in time) still checks:
// with the archives it is found there, as SEQ:HASH or bare HASH, and the
// same head with another hash is a rewrite; without them Verify says to
// pass the archives rather than crying tampering. The archived range's
// last record, which the live chain goes on from, checks either way.
func TestExpectHeadAfterArchiving(t *testing.T) {
	ctx := context.Background()
	s, clk, _, dir := archiveStore(t)
	noted := map[int64]string{}
	for _, day := range []int{1, 3} { // heads noted on two days, both archived later
		clk.t = day0.Add(time.Duration(day) * 24 * time.Hour)
		var seq int64
		var hash string
		if err := s.db.QueryRow(`SELECT seq, lower(hex(hash)) FROM records WHERE at < ? ORDER BY seq DESC LIMIT 1`, clk.t.UnixNano()).Scan(&seq, &hash); err != nil {
			t.Fatal(err)
		}
		noted[seq] = hash
	}
	// And a record that leaves the database with the archive (a model
	// call: nothing keeps it).
	var callSeq int64
	var callHash string
	if err := s.db.QueryRow(`SELECT seq, lower(hex(hash)) FROM records WHERE kind = 'llm_call' AND at < ? ORDER BY seq DESC LIMIT 1`, day0.Add(2*24*time.Hour).UnixNano()).Scan(&callSeq, &callHash); err != nil {
		t.Fatal(err)
	}
	noted[callSeq] = callHash
	res, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(5 * 24 * time.Hour), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var lastHash string
	if err := s.db.QueryRow(`SELECT json_extract(body, '$.file.last_hash') FROM records WHERE seq = ?`, res.Seq).Scan(&lastHash); err != nil || lastHash == "" {
		t.Fatalf("archive record's end hash = %q, %v", lastHash, err)
	}
	noted[res.File.LastSeq] = lastHash
	for seq, hash := range noted {
		if seq > res.File.LastSeq {
			t.Fatalf("noted head %d is not archived (archived up to %d)", seq, res.File.LastSeq)
		}
		for _, o := range []VerifyOptions{{ExpectSeq: seq, ExpectHash: hash}, {ExpectHash: hash}} {
			rep, err := s.VerifyArchives(ctx, dir, o)
			if err != nil || !rep.OK {
				t.Errorf("VerifyArchives(expect %d:%s…) = %+v %+v, %v; want ok (the head is archived)", o.ExpectSeq, hash[:8], rep, rep.Broken, err)
			}
		}
		other := strings.Repeat("0", 64)
		if rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{ExpectSeq: seq, ExpectHash: other}); err != nil || rep.OK || rep.Broken.Problem != "edited" || rep.Broken.Seq != seq {
			t.Errorf("VerifyArchives(expect %d with another hash) = %+v %+v, %v; want edited at %d", seq, rep, rep.Broken, err, seq)
		}
		if rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{ExpectHash: other}); err != nil || rep.OK || rep.Broken.Problem != "deleted" {
			t.Errorf("VerifyArchives(expect a hash no record has) = %+v %+v, %v; want deleted", rep, rep.Broken, err)
		}
		rep, err := s.VerifyWith(ctx, VerifyOptions{ExpectSeq: seq, ExpectHash: hash})
		if seq == res.File.LastSeq {
			if err != nil || !rep.OK {
				t.Errorf("VerifyWith(expect the archived range's end %d) = %+v, %v; want ok from the archive record", seq, rep, err)
			}
			continue
		}
		if count(t, s, `SELECT COUNT(*) FROM records WHERE seq = ?`, seq) == 1 {
			// A copy kept in the database, checked against the archive
			// record: it answers without the archive files.
			if err != nil || !rep.OK {
				t.Errorf("VerifyWith(expect kept seq %d) = %+v, %v; want ok from the kept copy", seq, rep.Broken, err)
			}
			continue
		}
		if seq != callSeq {
			t.Errorf("noted seq %d is neither kept nor the model call %d", seq, callSeq)
		}
		if !errors.Is(err, ErrHeadArchived) || !strings.Contains(err.Error(), "--archive") || rep.Broken != nil {
			t.Errorf("VerifyWith(expect archived seq %d) without the archives = %+v, %v; want ErrHeadArchived naming --archive", seq, rep.Broken, err)
		}
	}
	// A head after the archived range checks live, with or without them,
	// and one step beyond the end is a deleted tail.
	seq, hash, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []VerifyOptions{{ExpectSeq: seq, ExpectHash: hash}, {ExpectHash: hash}} {
		if rep, err := s.VerifyArchives(ctx, dir, o); err != nil || !rep.OK {
			t.Errorf("VerifyArchives(expect the live head) = %+v, %v", rep.Broken, err)
		}
	}
	if rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{ExpectSeq: seq + 1, ExpectHash: hash}); err != nil || rep.OK || rep.Broken.Problem != "deleted" {
		t.Errorf("VerifyArchives(expect seq %d, one beyond the head) = %+v, %v; want deleted", seq+1, rep.Broken, err)
	}
}

// TestCheckFile: a store says when the file at its path is no longer the
// one it opened (deleted, or another file put there), and is content again
// once the same file is back.
func TestCheckFile(t *testing.T) {
	s, path := writeSome(t, 3)
	if err := s.CheckFile(); err != nil {
		t.Fatalf("CheckFile on the file opened = %v", err)
	}
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckFile(); !errors.Is(err, ErrFileChanged) || !strings.Contains(err.Error(), "deleted") {
		t.Errorf("CheckFile with no file at the path = %v; want ErrFileChanged, deleted", err)
	}
	os.WriteFile(path, []byte("x"), 0o600)
	if err := s.CheckFile(); !errors.Is(err, ErrFileChanged) || !strings.Contains(err.Error(), "replaced") {
		t.Errorf("CheckFile with another file at the path = %v; want ErrFileChanged, replaced", err)
	}
	if err := os.Rename(path+".moved", path); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckFile(); err != nil {
		t.Errorf("CheckFile with the file back = %v", err)
	}
}

// TestExpectBareHeadOfAKeptCopyOrTheArchiveEnd: a head whose record was
// archived but is still in the database (a kept copy, checked against the
// archive record) or is the archived range's end (the archive record holds
// it) is compared without the archive files, as a bare HASH as well as
// SEQ:HASH; a kept seq with another hash is a rewrite, not "archived".
func TestExpectBareHeadOfAKeptCopyOrTheArchiveEnd(t *testing.T) {
	ctx := context.Background()
	s, _, _, dir := archiveStore(t)
	res, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(5 * 24 * time.Hour), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var (
		keptSeq            int64
		keptHash, lastHash string
	)
	if err := s.db.QueryRow(`SELECT seq, lower(hex(hash)) FROM records WHERE seq < ? ORDER BY seq LIMIT 1`, res.File.LastSeq).Scan(&keptSeq, &keptHash); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT json_extract(body, '$.file.last_hash') FROM records WHERE seq = ?`, res.Seq).Scan(&lastHash); err != nil {
		t.Fatal(err)
	}
	for _, o := range []VerifyOptions{{ExpectHash: lastHash}, {ExpectHash: keptHash}, {ExpectSeq: keptSeq, ExpectHash: keptHash}} {
		if rep, err := s.VerifyWith(ctx, o); err != nil || !rep.OK {
			t.Errorf("VerifyWith(expect %d:%s…) = %+v, %v; want ok without the archive files", o.ExpectSeq, o.ExpectHash[:8], rep.Broken, err)
		}
	}
	rep, err := s.VerifyWith(ctx, VerifyOptions{ExpectSeq: keptSeq, ExpectHash: strings.Repeat("0", 64)})
	if err != nil || rep.OK || rep.Broken.Seq != keptSeq || rep.Broken.Problem != "edited" {
		t.Errorf("VerifyWith(expect kept seq %d with another hash) = %+v, %v; want edited at %d", keptSeq, rep.Broken, err, keptSeq)
	}
}

// TestExpectHeadAtTheArchivedEndWithAnotherHash: the archive record holds
// the hash of the archived range's last record; a head noted at that seq
// with another hash is a rewritten chain (exit 1 in the CLI), said without
// the archive files, not "pass --archive" (exit 2).
func TestExpectHeadAtTheArchivedEndWithAnotherHash(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: day0}
	s, path := openTest(t, Options{Clock: clk.Now})
	for i := 0; i < 4; i++ {
		id := fmt.Sprintf("r%d", i)
		if err := s.BeginRun(ctx, Run{ID: id, Mode: "paper", Advisor: "baseline"}); err != nil {
			t.Fatal(err)
		}
		if err := s.EndRun(ctx, id, "ok", nil); err != nil {
			t.Fatal(err)
		}
		clk.t = clk.t.Add(24 * time.Hour)
	}
	res, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(2 * 24 * time.Hour), Dir: filepath.Join(filepath.Dir(path), "archive")})
	if err != nil || res.File.LastSeq == 0 {
		t.Fatalf("Archive = %+v, %v", res, err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM records WHERE seq = ?`, res.File.LastSeq); n != 0 {
		t.Fatalf("the archived range's last record %d is kept live: the test needs it archived", res.File.LastSeq)
	}
	rep, err := s.VerifyWith(ctx, VerifyOptions{ExpectSeq: res.File.LastSeq, ExpectHash: strings.Repeat("0", 64)})
	if err != nil || rep.OK || rep.Broken == nil || rep.Broken.Problem != "edited" || rep.Broken.Seq != res.File.LastSeq {
		t.Fatalf("VerifyWith(expect %d with another hash) = %+v, %v; want edited there, from the archive record", res.File.LastSeq, rep.Broken, err)
	}
}
