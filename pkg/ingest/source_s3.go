package ingest

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// S3Source reads an object from S3-compatible storage, skipping it when its ETag has not changed.
type S3Source struct {
	// Endpoint is the service's URL; empty means AWS S3.
	Endpoint  string
	Region    string
	Bucket    string
	Key       string
	AccessKey string
	SecretKey string
	Format    Format
	TempDir   string

	state store.SourceState
}

func (s *S3Source) client() (*minio.Client, error) {
	host, secure := "s3.amazonaws.com", true
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err != nil {
			return nil, err
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	creds := credentials.NewIAM("")
	if s.AccessKey != "" {
		creds = credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")
	}
	return minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: s.Region, BucketLookup: minio.BucketLookupPath})
}

// Open implements Source.
func (s *S3Source) Open(ctx context.Context, prev store.SourceState) (RowReader, error) {
	c, err := s.client()
	if err != nil {
		return nil, &SourceError{Reason: ReasonUnreadableSource, Message: fmt.Sprintf("%s: %v", s, err)}
	}
	info, err := c.StatObject(ctx, s.Bucket, s.Key, minio.StatObjectOptions{})
	if err != nil {
		return nil, s3Error(s, err)
	}
	if prev.ETag != "" && info.ETag == prev.ETag {
		s.state = prev
		return nil, ErrNotModified
	}
	f, err := os.CreateTemp(s.TempDir, "kizuna-source-*")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	_ = f.Close()
	// Download the version that was just looked at, so the ETag remembered matches the content.
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(info.ETag); err != nil {
		return nil, err
	}
	if err := c.FGetObject(ctx, s.Bucket, s.Key, path, opts); err != nil {
		_ = os.Remove(path)
		return nil, s3Error(s, err)
	}
	s.state = store.SourceState{ETag: info.ETag, LastModified: info.LastModified.UTC().Format(timeHTTP)}
	r, err := OpenFile(path, s.Format)
	if err != nil {
		_ = os.Remove(path)
		return nil, classifyOpenError(s, err)
	}
	return removeOnClose(r, path), nil
}

const timeHTTP = "Mon, 02 Jan 2006 15:04:05 GMT"

func s3Error(s *S3Source, err error) error {
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NoSuchBucket":
		return &SourceError{Reason: ReasonSourceNotFound, Message: fmt.Sprintf("%s: %s", s, resp.Message)}
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return &SourceError{Reason: ReasonSourceUnavailable, Message: fmt.Sprintf("%s: %s (check the credentials Secret)", s, resp.Message)}
	}
	return &SourceError{Reason: ReasonSourceUnavailable, Temporary: true, Message: fmt.Sprintf("%s: %v", s, err)}
}

// State implements Source.
func (s *S3Source) State() store.SourceState { return s.state }

func (s *S3Source) String() string { return fmt.Sprintf("s3://%s/%s", s.Bucket, s.Key) }
