package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

var clock = func() time.Time { return time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) }

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "kizuna.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var contactsMapping = Mapping{
	RecordKey:   "id",
	Identifiers: []IdentifierColumn{{Column: "email", Type: "Email"}},
	Attributes:  []AttributeColumn{{Name: "name", Column: "name", Type: TypeString}, {Name: "spend", Column: "spend", Type: TypeNumber}},
}

func recordsConfig(runID string, input Source) SyncConfig {
	return SyncConfig{
		Namespace: "shop", Source: "crm", RunID: runID, Mode: store.SyncSnapshot,
		Input: input, Mapping: contactsMapping, MaxErrorRatio: 0.5, Now: clock,
	}
}

func keys(t *testing.T, st store.Store) (live, deleted []string) {
	t.Helper()
	err := st.ScanRecords(context.Background(), "shop", "crm", func(r store.Record) error {
		if r.DeletedAt != nil {
			deleted = append(deleted, r.Key)
		} else {
			live = append(live, r.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return live, deleted
}

func TestSyncQuarantinesBadRowsAndLoadsTheRest(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "crm.csv", "id,email,name,spend\n"+
		"1,a@example.jp,山田,100\n"+
		"2,b@example.jp,佐藤,たくさん\n"+ // line 3: not a number
		"3,c@example.jp,鈴木\n"+ // line 4: wrong column count
		"1,dup@example.jp,田中,300\n"+ // line 5: duplicate key
		",nokey@example.jp,伊藤,1\n"+ // line 6: empty key
		"4,d@example.jp,高橋,400\n")
	cfg := recordsConfig("run-1", &FileSource{Path: path, Format: Format{Type: FormatCSV}})
	cfg.MaxErrorRatio = 0.7
	run, err := Sync(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != store.SyncSucceeded || run.RowsRead != 6 || run.RowsLoaded != 2 || run.RowsQuarantined != 4 {
		t.Fatalf("run = %+v, want 6 read, 2 loaded, 4 quarantined", run)
	}
	rows, err := st.Quarantined(context.Background(), "shop", "crm", "run-1", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{3: "is not a number", 4: "", 5: "duplicate record key", 6: "record key column"}
	if len(rows) != len(want) {
		t.Fatalf("quarantined %+v, want rows 3 to 6", rows)
	}
	for _, q := range rows {
		fragment, ok := want[q.Row]
		if !ok || !strings.Contains(q.Reason, fragment) || q.Raw == "" {
			t.Errorf("quarantined row %d: %q (raw %q); want a reason containing %q and the raw text", q.Row, q.Reason, q.Raw, fragment)
		}
	}
	live, _ := keys(t, st)
	if strings.Join(live, ",") != "1,4" {
		t.Errorf("records %v, want 1 and 4", live)
	}
}

func TestSyncAboveMaxErrorRatioKeepsThePreviousData(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.csv", "id,email,name,spend\n1,a@example.jp,山田,100\n2,b@example.jp,佐藤,200\n")
	if run, err := Sync(context.Background(), st, recordsConfig("run-1", &FileSource{Path: good, Format: Format{Type: FormatCSV}})); err != nil || run.Status != store.SyncSucceeded {
		t.Fatalf("first sync: %+v, %v", run, err)
	}
	bad := writeFile(t, dir, "bad.csv", "id,email,name,spend\n3,c@example.jp,鈴木,x\n4,d@example.jp,高橋,y\n5,e@example.jp,伊藤,500\n")
	run, err := Sync(context.Background(), st, recordsConfig("run-2", &FileSource{Path: bad, Format: Format{Type: FormatCSV}}))
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != store.SyncFailed || !strings.Contains(run.Message, "2 of 3 rows") || !strings.Contains(run.Message, "first bad row 2") {
		t.Fatalf("run = %+v, want Failed saying 2 of 3 rows and where the first one is", run)
	}
	live, deleted := keys(t, st)
	if strings.Join(live, ",") != "1,2" || len(deleted) != 0 {
		t.Errorf("after a failed sync: live %v, deleted %v; want the previous 1 and 2 untouched", live, deleted)
	}
	if q, _ := st.Quarantined(context.Background(), "shop", "crm", "run-2", 10); len(q) != 2 {
		t.Errorf("the failed run kept %d quarantined rows, want 2", len(q))
	}
}

// An append that finds no new rows (a cursor query after a quiet hour) succeeds and keeps what
// was loaded; only a snapshot without rows fails.
func TestAnAppendWithoutNewRowsSucceeds(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t)
	cfg := recordsConfig("run-1", &FileSource{Path: writeFile(t, dir, "first.csv", "id,email,name,spend\n1,a@example.jp,A,1\n"),
		Format: Format{Type: FormatCSV}})
	cfg.Mode = store.SyncAppend
	if run, err := Sync(context.Background(), st, cfg); err != nil || run.Status != store.SyncSucceeded {
		t.Fatalf("first sync = %+v, %v; want Succeeded", run, err)
	}
	cfg.RunID, cfg.Input = "run-2", &FileSource{Path: writeFile(t, dir, "none.csv", "id,email,name,spend\n"), Format: Format{Type: FormatCSV}}
	run, err := Sync(context.Background(), st, cfg)
	if err != nil || run.Status != store.SyncSucceeded || run.RowsRead != 0 {
		t.Fatalf("an append without rows = %+v, %v; want Succeeded with 0 rows read", run, err)
	}
	if live, deleted := keys(t, st); len(live) != 1 || len(deleted) != 0 {
		t.Errorf("after an empty append: live %v, deleted %v; want record 1 untouched", live, deleted)
	}
}

func TestSyncOfWholeFileProblemsFailsClearly(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		input   Source
		message string
	}{
		{"empty file", &FileSource{Path: writeFile(t, dir, "empty.csv", ""), Format: Format{Type: FormatCSV}}, "is empty"},
		{"header only", &FileSource{Path: writeFile(t, dir, "header.csv", "id,email,name,spend\n"), Format: Format{Type: FormatCSV}}, "has no data rows"},
		{"missing file", &FileSource{Path: filepath.Join(dir, "missing.csv"), Format: Format{Type: FormatCSV}}, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			run, err := Sync(context.Background(), st, recordsConfig("run-1", tt.input))
			if err != nil {
				t.Fatalf("a problem the user must fix returned error %v, want a Failed run", err)
			}
			if run.Status != store.SyncFailed || !strings.Contains(run.Message, tt.message) {
				t.Errorf("run = %+v, want Failed with %q", run, tt.message)
			}
		})
	}
}

func TestSnapshotSyncIsIdempotentAndMarksRemovedRecordsDeleted(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "crm.csv", "id,email,name,spend\n1,a@example.jp,山田,100\n2,b@example.jp,佐藤,200\n")
	input := &FileSource{Path: path, Format: Format{Type: FormatCSV}}
	if _, err := Sync(context.Background(), st, recordsConfig("run-1", input)); err != nil {
		t.Fatal(err)
	}
	again, err := Sync(context.Background(), st, recordsConfig("run-2", input))
	if err != nil {
		t.Fatal(err)
	}
	if again.Inserted != 0 || again.Updated != 0 || again.Unchanged != 2 || again.RecordsDeleted != 0 {
		t.Errorf("the same input again: %+v, want 2 unchanged and nothing else", again)
	}

	writeFile(t, dir, "crm.csv", "id,email,name,spend\n2,b@example.jp,佐藤,250\n3,c@example.jp,鈴木,300\n")
	changed, err := Sync(context.Background(), st, recordsConfig("run-3", input))
	if err != nil {
		t.Fatal(err)
	}
	if changed.Inserted != 1 || changed.Updated != 1 || changed.RecordsDeleted != 1 {
		t.Errorf("changed input: %+v, want 1 inserted, 1 updated, 1 deleted", changed)
	}
	live, deleted := keys(t, st)
	if strings.Join(live, ",") != "2,3" || strings.Join(deleted, ",") != "1" {
		t.Errorf("live %v, deleted %v", live, deleted)
	}

	// A retried Job (same run ID) finds its work done and writes nothing.
	writeFile(t, dir, "crm.csv", "id,email,name,spend\n9,z@example.jp,誰か,1\n")
	retried, err := Sync(context.Background(), st, recordsConfig("run-3", input))
	if err != nil {
		t.Fatal(err)
	}
	if retried.Inserted != 1 || retried.RecordsDeleted != 1 {
		t.Errorf("retried run = %+v, want the first result of run-3", retried)
	}
	if live, _ := keys(t, st); strings.Join(live, ",") != "2,3" {
		t.Errorf("a retried run changed the records: %v", live)
	}
}

func TestEventSyncAppendsAndSkipsDuplicates(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "orders.jsonl",
		`{"order_id":"O-1","at":"2026-11-01T10:00:00+09:00","email":"a@example.jp","amount":3980}`+"\n"+
			`{"order_id":"O-2","at":"2026-11-02T10:00:00+09:00","email":"b@example.jp","amount":1200}`+"\n")
	cfg := SyncConfig{
		Namespace: "shop", Source: "orders", Events: true, Mode: store.SyncAppend, MaxErrorRatio: 0, Now: clock,
		Input: &FileSource{Path: path, Format: Format{Type: FormatJSONLines}},
		Mapping: Mapping{Event: &EventColumns{
			Type: "purchase", IDColumn: "order_id",
			Timestamp:  AttributeColumn{Column: "at", Type: TypeTimestamp},
			Identifier: IdentifierColumn{Column: "email", Type: "Email"},
			Properties: []AttributeColumn{{Name: "amount", Column: "amount", Type: TypeNumber}},
		}},
	}
	for i, want := range []struct{ inserted, unchanged int64 }{{2, 0}, {0, 2}} {
		cfg.RunID = fmt.Sprintf("run-%d", i)
		run, err := Sync(context.Background(), st, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != store.SyncSucceeded || run.Inserted != want.inserted || run.Unchanged != want.unchanged {
			t.Errorf("sync %d: %+v, want %d inserted and %d unchanged", i, run, want.inserted, want.unchanged)
		}
	}
	var amounts []any
	err := st.ScanEvents(context.Background(), "shop", "orders", func(e store.Event) error {
		amounts = append(amounts, e.Properties["amount"])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(amounts) != "[3980 1200]" {
		t.Errorf("event amounts %v, want [3980 1200] in time order", amounts)
	}
}

func TestHTTPSourceSkipsAnUnchangedFile(t *testing.T) {
	var gets, notModified atomic.Int32
	body := "id,email,name,spend\n1,a@example.jp,山田,100\n"
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/crm.csv":
			gets.Add(1)
			if r.Header.Get("If-None-Match") == `"v1"` {
				notModified.Add(1)
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"v1"`)
			_, _ = w.Write([]byte(body))
		case "/broken.csv":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer server.Close()
	st := openStore(t)
	source := func(path string) *HTTPSource {
		return &HTTPSource{URL: server.URL + path, Authorization: "Bearer t0ken", Format: Format{Type: FormatCSV}, TempDir: t.TempDir()}
	}

	first, err := Sync(context.Background(), st, recordsConfig("run-1", source("/crm.csv")))
	if err != nil || first.Status != store.SyncSucceeded || first.Inserted != 1 {
		t.Fatalf("first sync: %+v, %v", first, err)
	}
	second, err := Sync(context.Background(), st, recordsConfig("run-2", source("/crm.csv")))
	if err != nil || second.Status != store.SyncSkipped {
		t.Fatalf("second sync of an unchanged file: %+v, %v; want Skipped", second, err)
	}
	if gets.Load() != 2 || notModified.Load() != 1 {
		t.Errorf("server saw %d GETs, %d answered 304; want 2 and 1", gets.Load(), notModified.Load())
	}
	if live, _ := keys(t, st); len(live) != 1 {
		t.Errorf("a skipped sync changed the records: %v", live)
	}

	missing, err := Sync(context.Background(), st, recordsConfig("run-3", source("/gone.csv")))
	if err != nil || missing.Status != store.SyncFailed || !strings.Contains(missing.Message, "404") {
		t.Errorf("404: %+v, %v; want a Failed run naming the status", missing, err)
	}
	broken, err := Sync(context.Background(), st, recordsConfig("run-4", source("/broken.csv")))
	if err == nil || broken.Status != store.SyncFailed || !strings.Contains(broken.Message, "500") {
		t.Errorf("500: %+v, %v; want a Failed run and an error, since trying again may work", broken, err)
	}
}

func TestS3SourceReadsAnObjectAndSkipsItWhenUnchanged(t *testing.T) {
	backend := s3mem.New()
	faker := gofakes3.New(backend)
	server := httptest.NewServer(faker.Server())
	defer server.Close()
	if err := backend.CreateBucket("exports"); err != nil {
		t.Fatal(err)
	}
	client, err := minio.New(strings.TrimPrefix(server.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4("AKIAEXAMPLE", "secret", ""), Region: "ap-northeast-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	put := func(content string) {
		t.Helper()
		_, err := client.PutObject(context.Background(), "exports", "crm.csv", bytes.NewReader([]byte(content)), int64(len(content)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("id,email,name,spend\n1,a@example.jp,山田,100\n2,b@example.jp,佐藤,200\n")
	st := openStore(t)
	source := func() *S3Source {
		return &S3Source{Endpoint: server.URL, Region: "ap-northeast-1", Bucket: "exports", Key: "crm.csv",
			AccessKey: "AKIAEXAMPLE", SecretKey: "secret", Format: Format{Type: FormatCSV}, TempDir: t.TempDir()}
	}
	first, err := Sync(context.Background(), st, recordsConfig("run-1", source()))
	if err != nil || first.Status != store.SyncSucceeded || first.Inserted != 2 {
		t.Fatalf("first sync: %+v, %v", first, err)
	}
	second, err := Sync(context.Background(), st, recordsConfig("run-2", source()))
	if err != nil || second.Status != store.SyncSkipped {
		t.Fatalf("unchanged object: %+v, %v; want Skipped", second, err)
	}
	put("id,email,name,spend\n2,b@example.jp,佐藤,200\n")
	third, err := Sync(context.Background(), st, recordsConfig("run-3", source()))
	if err != nil || third.Status != store.SyncSucceeded || third.RecordsDeleted != 1 {
		t.Fatalf("changed object: %+v, %v; want one record deleted", third, err)
	}
	missing := source()
	missing.Key = "nope.csv"
	run, err := Sync(context.Background(), st, recordsConfig("run-4", missing))
	if err != nil || run.Status != store.SyncFailed {
		t.Errorf("missing object: %+v, %v; want a Failed run", run, err)
	}
}
