package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/envtest"
	"github.com/kizuna-dev/kizuna/test/mailsink"
)

// copyDir copies the files of a folder tree.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRunPlansAndSendsTheExampleCampaign runs the retail example twice: without --send the
// campaign is only planned and nothing arrives; with --send its messages arrive at a real SMTP
// server, as many as the ledger counts sent; a third run finds everyone already reached; and
// the preview of one recipient renders the message that arrived.
func TestRunPlansAndSendsTheExampleCampaign(t *testing.T) {
	sink, err := mailsink.Start(mailsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sink.Stop() }()
	dir := t.TempDir()
	copyDir(t, filepath.Join(envtest.RepoRoot(), "examples", "retail"), dir)
	manifest := filepath.Join(dir, "campaigns.yaml")
	raw, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, []byte(strings.Replace(string(raw), "port: 1025", "port: "+strconv.Itoa(sink.SMTPPort()), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite:" + filepath.Join(dir, "kizuna.db")

	out, err := kizuna(t, "run", "-f", dir, "--store", dsn)
	if err != nil {
		t.Fatalf("kizuna run: %v\n%s", err, out)
	}
	planned := regexp.MustCompile(`autumn-newsletter\s+(\d+)\s+(\d+)\s+0\s`).FindStringSubmatch(out)
	if planned == nil {
		t.Fatalf("kizuna run printed no plan of autumn-newsletter:\n%s", out)
	}
	recipients, _ := strconv.Atoi(planned[1])
	holdout, _ := strconv.Atoi(planned[2])
	// tokyo-customers has two members (checkSegments asserts it from the profiles themselves).
	if recipients+holdout != 2 {
		t.Errorf("plan: %d recipients and %d in the holdout, want the 2 Tokyo customers", recipients, holdout)
	}
	if messages, _ := sink.Messages(t.Context()); len(messages) != 0 {
		t.Fatalf("a run without --send delivered %d messages", len(messages))
	}

	out, err = kizuna(t, "run", "-f", dir, "--store", dsn, "--send")
	if err != nil {
		t.Fatalf("kizuna run --send: %v\n%s", err, out)
	}
	sent := regexp.MustCompile(`autumn-newsletter\s+autumn-newsletter-local-\d+\s+(\d+)\s+(\d+)\s+0\s+0\s+0\s+0\s+0\s+(\d+)`).FindStringSubmatch(out)
	if sent == nil {
		t.Fatalf("kizuna run --send printed no counts:\n%s", out)
	}
	if sent[1] != planned[1] || sent[2] != planned[1] || sent[3] != planned[2] {
		t.Errorf("sent %s of %s targeted with %s held out; want all %s planned sent", sent[2], sent[1], sent[3], planned[1])
	}
	messages, err := sink.Messages(t.Context())
	if err != nil || len(messages) != recipients {
		t.Fatalf("the SMTP server received %d messages (%v), want %d", len(messages), err, recipients)
	}

	out, err = kizuna(t, "run", "-f", dir, "--store", dsn)
	if err != nil || !regexp.MustCompile(`autumn-newsletter\s+0\s+0\s+2\s`).MatchString(out) {
		t.Errorf("a run after the send should find both customers already reached: %v\n%s", err, out)
	}

	to := messages[0].To[0].Address
	profile := profileWithEmail(t, dsn, to)
	out, err = kizuna(t, "preview", "campaign", "-f", manifest, "--store", dsn, "--profile", profile)
	if err != nil || !strings.Contains(out, "channel: email (SMTP) to "+to) || !strings.Contains(out, messages[0].Subject) {
		t.Errorf("preview for %s (%s): %v\n%s\nwant the channel and the subject %q", profile, to, err, out, messages[0].Subject)
	}
}

// profileWithEmail returns the ID of the published profile that has the email address.
func profileWithEmail(t *testing.T, dsn, email string) string {
	t.Helper()
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	var id string
	err = st.ScanProfiles(t.Context(), "default", "customers", func(p store.Profile) error {
		if slices.Contains(p.Identifiers["Email"], email) {
			id = p.ID
		}
		return nil
	})
	if err != nil || id == "" {
		t.Fatalf("no profile has email %s: %v", email, err)
	}
	return id
}
