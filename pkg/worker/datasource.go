// Package worker maps Kizuna resources onto the configuration of the engines in pkg/ (ingest now;
// identity, segment and delivery later), in one place, for the two ways the work runs: in a Job's
// Pod (`kizuna worker <step>`) and on a laptop or in CI (`kizuna run`). Credentials reach it
// through a Credentials implementation: environment variables that the Job's Pod gets from
// Secrets, or the Secrets found among local manifests.
package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/ingest"
	"github.com/kizuna-dev/kizuna/pkg/schedule"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// Credentials gives a worker the Secret values and ConfigMap content a resource refers to.
type Credentials interface {
	SecretValue(ctx context.Context, name, key string) (string, error)
	// SecretData returns every key of a Secret, for a resource that names a Secret and not its
	// keys (a webhook's headersSecretRef).
	SecretData(ctx context.Context, name string) (map[string]string, error)
	ConfigMapValue(ctx context.Context, name, key string) ([]byte, error)
}

// SyncOptions are the parts of a sync that come from where it runs, not from the spec.
type SyncOptions struct {
	Namespace string
	RunID     string
	// BaseDir resolves relative file paths: the manifest's folder in `kizuna run`.
	BaseDir string
	// TempDir holds downloaded files while they are read.
	TempDir    string
	HTTPClient *http.Client
	Now        func() time.Time
}

// SyncConfig builds the ingest configuration of a DataSource.
func SyncConfig(ctx context.Context, ds *cdpv1alpha1.DataSource, creds Credentials, opts SyncOptions) (ingest.SyncConfig, error) {
	spec := &ds.Spec
	mapping, err := MappingFor(spec)
	if err != nil {
		return ingest.SyncConfig{}, err
	}
	input, err := sourceFor(ctx, spec, creds, opts)
	if err != nil {
		return ingest.SyncConfig{}, err
	}
	cfg := ingest.SyncConfig{
		Namespace:     opts.Namespace,
		Source:        ds.Name,
		RunID:         opts.RunID,
		Events:        spec.Type == cdpv1alpha1.DataSourceEvents,
		Mode:          store.SyncSnapshot,
		Input:         input,
		Mapping:       mapping,
		MaxErrorRatio: ingest.DefaultMaxErrorRatio,
		Now:           opts.Now,
	}
	if spec.MaxErrorRatio != nil {
		cfg.MaxErrorRatio = *spec.MaxErrorRatio
	}
	// Events are appended; so are records read incrementally through a cursor, since a query
	// that returns only new rows says nothing about the rows it did not return.
	if cfg.Events || (spec.Source.Postgres != nil && spec.Source.Postgres.CursorColumn != "") {
		cfg.Mode = store.SyncAppend
	}
	return cfg, nil
}

func sourceFor(ctx context.Context, spec *cdpv1alpha1.DataSourceSpec, creds Credentials, opts SyncOptions) (ingest.Source, error) {
	var format ingest.Format
	if spec.Format != nil {
		format = FormatFor(spec.Format)
	}
	src := spec.Source
	switch {
	case src.File != nil:
		path := src.File.Path
		if !filepath.IsAbs(path) && opts.BaseDir != "" {
			path = filepath.Join(opts.BaseDir, path)
		}
		return &ingest.FileSource{Path: path, Format: format}, nil
	case src.HTTP != nil:
		s := &ingest.HTTPSource{URL: src.HTTP.URL, Format: format, Client: opts.HTTPClient, TempDir: opts.TempDir}
		if ref := src.HTTP.AuthorizationSecretRef; ref != nil {
			v, err := creds.SecretValue(ctx, ref.Name, ref.Key)
			if err != nil {
				return nil, err
			}
			s.Authorization = v
		}
		return s, nil
	case src.S3 != nil:
		s := &ingest.S3Source{Endpoint: src.S3.Endpoint, Region: src.S3.Region, Bucket: src.S3.Bucket, Key: src.S3.Key,
			Format: format, TempDir: opts.TempDir}
		if ref := src.S3.CredentialsSecretRef; ref != nil {
			var err error
			if s.AccessKey, err = creds.SecretValue(ctx, ref.Name, S3AccessKeyIDKey); err != nil {
				return nil, err
			}
			if s.SecretKey, err = creds.SecretValue(ctx, ref.Name, S3SecretAccessKeyKey); err != nil {
				return nil, err
			}
		}
		return s, nil
	case src.ConfigMap != nil:
		data, err := creds.ConfigMapValue(ctx, src.ConfigMap.Name, src.ConfigMap.Key)
		if err != nil {
			return nil, err
		}
		return &ingest.BytesSource{Name: fmt.Sprintf("ConfigMap %s key %s", src.ConfigMap.Name, src.ConfigMap.Key),
			Data: data, Format: format, TempDir: opts.TempDir}, nil
	case src.Postgres != nil:
		dsn, err := creds.SecretValue(ctx, src.Postgres.ConnectionSecretRef.Name, src.Postgres.ConnectionSecretRef.Key)
		if err != nil {
			return nil, err
		}
		return &ingest.PostgresSource{DSN: dsn, Query: src.Postgres.Query, CursorColumn: src.Postgres.CursorColumn}, nil
	case src.Collector != nil:
		return nil, fmt.Errorf("a collector source receives events through `kizuna serve`; it has nothing to sync")
	}
	return nil, fmt.Errorf("spec.source sets no location")
}

// Keys of the Secret named by an S3 source's credentialsSecretRef.
const (
	S3AccessKeyIDKey     = "accessKeyID"
	S3SecretAccessKeyKey = "secretAccessKey"
)

// FormatFor maps a DataSource's file format.
func FormatFor(f *cdpv1alpha1.FileFormat) ingest.Format {
	format := ingest.Format{Type: string(f.Type), Delimiter: ',', Encoding: string(cdpv1alpha1.EncodingUTF8), TrimSpace: true}
	if c := f.CSV; c != nil {
		if c.Delimiter != "" {
			format.Delimiter = []rune(c.Delimiter)[0]
		}
		if c.Encoding != "" {
			format.Encoding = string(c.Encoding)
		}
		if c.TrimSpace != nil {
			format.TrimSpace = *c.TrimSpace
		}
	}
	return format
}

// MappingFor maps a DataSource's columns.
func MappingFor(spec *cdpv1alpha1.DataSourceSpec) (ingest.Mapping, error) {
	var m ingest.Mapping
	if spec.RecordKey != nil {
		m.RecordKey = spec.RecordKey.Column
	}
	for _, id := range spec.Identifiers {
		m.Identifiers = append(m.Identifiers, identifierColumn(id))
	}
	var err error
	if m.Attributes, err = attributeColumns(spec.Attributes); err != nil {
		return m, err
	}
	if ev := spec.Event; ev != nil {
		loc, err := schedule.LoadLocation(ev.Timestamp.TimeZone)
		if err != nil {
			return m, fmt.Errorf("spec.event.timestamp.timeZone: %w", err)
		}
		props, err := attributeColumns(ev.Properties)
		if err != nil {
			return m, err
		}
		m.Event = &ingest.EventColumns{
			Type:       string(ev.Type),
			TypeColumn: ev.TypeColumn,
			Timestamp: ingest.AttributeColumn{Name: "timestamp", Column: ev.Timestamp.Column, Type: ingest.TypeTimestamp,
				Layout: ev.Timestamp.Format, Location: loc},
			IDColumn:   ev.IDColumn,
			Identifier: identifierColumn(ev.Identifier),
			Properties: props,
		}
	}
	return m, nil
}

func identifierColumn(id cdpv1alpha1.IdentifierMapping) ingest.IdentifierColumn {
	t := string(id.Type)
	if id.Type == cdpv1alpha1.IdentifierCustom {
		t += ":" + string(id.Name)
	}
	return ingest.IdentifierColumn{Column: id.Column, Type: t}
}

func attributeColumns(attrs []cdpv1alpha1.AttributeMapping) ([]ingest.AttributeColumn, error) {
	cols := make([]ingest.AttributeColumn, 0, len(attrs))
	for _, a := range attrs {
		loc, err := schedule.LoadLocation(a.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
		}
		col := a.Column
		if col == "" {
			col = string(a.Name)
		}
		typ := string(a.Type)
		if typ == "" {
			typ = ingest.TypeString
		}
		cols = append(cols, ingest.AttributeColumn{Name: string(a.Name), Column: col, Type: typ, Layout: a.Format, Location: loc})
	}
	return cols, nil
}

var nonEnvChars = regexp.MustCompile(`[^A-Z0-9]+`)

// SecretEnvName is the environment variable through which a sync Job's Pod receives one key of a
// Secret. The Job builder and the worker both call it, so the name is the contract between them.
func SecretEnvName(secret, key string) string {
	sum := sha256.Sum256([]byte(secret + "\x00" + key))
	readable := nonEnvChars.ReplaceAllString(strings.ToUpper(secret+"_"+key), "_")
	if len(readable) > 40 {
		readable = readable[:40]
	}
	return "KIZUNA_SECRET_" + strings.Trim(readable, "_") + "_" + strings.ToUpper(hex.EncodeToString(sum[:4]))
}
