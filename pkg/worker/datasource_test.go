package worker

import (
	"context"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/ingest"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

func TestSecretEnvNameIsAValidStableName(t *testing.T) {
	a := SecretEnvName("crm-export.token", "authorization")
	if a != SecretEnvName("crm-export.token", "authorization") {
		t.Fatal("SecretEnvName is not stable")
	}
	if !strings.HasPrefix(a, "KIZUNA_SECRET_CRM_EXPORT_TOKEN_AUTHORIZATION_") {
		t.Errorf("SecretEnvName = %q", a)
	}
	for _, r := range a {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' {
			t.Fatalf("SecretEnvName %q has %q", a, r)
		}
	}
	// Names that differ only in punctuation must not collide.
	if SecretEnvName("a-b", "c") == SecretEnvName("a.b", "c") {
		t.Error("two Secrets share an environment variable")
	}
}

func TestSyncConfigModes(t *testing.T) {
	creds := MapCredentials{Secrets: map[string]map[string][]byte{"db": {"dsn": []byte("postgres://x")}}}
	records := &cdpv1alpha1.DataSource{Spec: cdpv1alpha1.DataSourceSpec{
		Type:          cdpv1alpha1.DataSourceRecords,
		Source:        cdpv1alpha1.SourceLocation{File: &cdpv1alpha1.FileLocation{Path: "crm.csv"}},
		Format:        &cdpv1alpha1.FileFormat{Type: cdpv1alpha1.FormatCSV, CSV: &cdpv1alpha1.CSVOptions{Delimiter: ";", Encoding: cdpv1alpha1.EncodingShiftJIS}},
		RecordKey:     &cdpv1alpha1.ColumnRef{Column: "id"},
		MaxErrorRatio: ptr.To(0.05),
	}}
	cfg, err := SyncConfig(context.Background(), records, creds, SyncOptions{BaseDir: "/manifests"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != store.SyncSnapshot || cfg.Events || cfg.MaxErrorRatio != 0.05 {
		t.Errorf("records config: mode %s, events %v, maxErrorRatio %v", cfg.Mode, cfg.Events, cfg.MaxErrorRatio)
	}
	file, ok := cfg.Input.(*ingest.FileSource)
	if !ok || file.Path != "/manifests/crm.csv" || file.Format.Delimiter != ';' || file.Format.Encoding != "ShiftJIS" {
		t.Errorf("input = %+v, want the file relative to the manifests with its CSV options", cfg.Input)
	}

	incremental := &cdpv1alpha1.DataSource{Spec: cdpv1alpha1.DataSourceSpec{
		Type: cdpv1alpha1.DataSourceRecords,
		Source: cdpv1alpha1.SourceLocation{Postgres: &cdpv1alpha1.PostgresQuery{
			ConnectionSecretRef: cdpv1alpha1.SecretKeySelector{Name: "db", Key: "dsn"}, Query: "SELECT 1", CursorColumn: "updated_at",
		}},
		RecordKey: &cdpv1alpha1.ColumnRef{Column: "id"},
	}}
	cfg, err = SyncConfig(context.Background(), incremental, creds, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != store.SyncAppend || cfg.MaxErrorRatio != ingest.DefaultMaxErrorRatio {
		t.Errorf("an incremental query syncs in mode %s with maxErrorRatio %v, want Append and the default", cfg.Mode, cfg.MaxErrorRatio)
	}
	if pg := cfg.Input.(*ingest.PostgresSource); pg.DSN != "postgres://x" {
		t.Errorf("DSN %q, want the Secret's value", pg.DSN)
	}

	incremental.Spec.Source.Postgres.ConnectionSecretRef.Key = "missing"
	if _, err := SyncConfig(context.Background(), incremental, creds, SyncOptions{}); err == nil || !strings.Contains(err.Error(), `no key "missing"`) {
		t.Errorf("SyncConfig with a missing key = %v", err)
	}
}

func TestMappingForEvents(t *testing.T) {
	spec := &cdpv1alpha1.DataSourceSpec{
		Type: cdpv1alpha1.DataSourceEvents,
		Event: &cdpv1alpha1.EventMapping{
			Type:       "purchase",
			Timestamp:  cdpv1alpha1.TimestampColumn{Column: "ordered_at", Format: "2006-01-02 15:04", TimeZone: "Asia/Tokyo"},
			IDColumn:   "order_id",
			Identifier: cdpv1alpha1.IdentifierMapping{Column: "member", Type: cdpv1alpha1.IdentifierCustom, Name: "member_no"},
			Properties: []cdpv1alpha1.AttributeMapping{{Name: "amount", Type: cdpv1alpha1.AttributeNumber}},
		},
	}
	m, err := MappingFor(spec)
	if err != nil {
		t.Fatal(err)
	}
	ev := m.Event
	if ev.Identifier.Type != "Custom:member_no" || ev.Timestamp.Location.String() != "Asia/Tokyo" || ev.Properties[0].Column != "amount" {
		t.Errorf("event mapping = %+v", ev)
	}
}
