package audit

import (
	"context"
	"fmt"
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
