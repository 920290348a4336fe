package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/kizuna-dev/kizuna/pkg/store"
)

// ErrNotModified is returned by Source.Open when the source has not changed since the last sync
// (same ETag or Last-Modified): the sync is skipped.
var ErrNotModified = errors.New("the source has not changed since the last sync")

// Source is where a sync reads rows from.
type Source interface {
	// Open returns a reader of the rows, or ErrNotModified when the source is unchanged since
	// prev. Errors that a user must fix are *SourceError.
	Open(ctx context.Context, prev store.SourceState) (RowReader, error)
	// State is what to remember for the next sync; call it after the rows were read.
	State() store.SourceState
	// String names the source in messages.
	String() string
}

// SourceError is a source that cannot be read, with a reason a condition can carry.
type SourceError struct {
	// Reason is a CamelCase word: SourceNotFound, SourceUnavailable, EmptySource, ...
	Reason string
	// Message says what is wrong, for a person.
	Message string
	// Temporary is true when trying again later may succeed (a 503, a timeout).
	Temporary bool
}

func (e *SourceError) Error() string { return e.Message }

// Reasons of SourceErrors.
const (
	ReasonSourceNotFound    = "SourceNotFound"
	ReasonSourceUnavailable = "SourceUnavailable"
	ReasonEmptySource       = "EmptySource"
	ReasonUnreadableSource  = "UnreadableSource"
)

// FileSource reads a local file.
type FileSource struct {
	Path   string
	Format Format
}

// Open implements Source.
func (s *FileSource) Open(_ context.Context, _ store.SourceState) (RowReader, error) {
	r, err := OpenFile(s.Path, s.Format)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &SourceError{Reason: ReasonSourceNotFound, Message: fmt.Sprintf("file %s does not exist", s.Path)}
	}
	return r, classifyOpenError(s, err)
}

// State implements Source: local files are read every time.
func (s *FileSource) State() store.SourceState { return store.SourceState{} }

func (s *FileSource) String() string { return s.Path }

// classifyOpenError turns a format reader's whole-file errors into SourceErrors.
func classifyOpenError(src Source, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrEmptyFile):
		return &SourceError{Reason: ReasonEmptySource, Message: fmt.Sprintf("%s is empty", src)}
	default:
		var se *SourceError
		if errors.As(err, &se) {
			return err
		}
		return &SourceError{Reason: ReasonUnreadableSource, Message: fmt.Sprintf("%s cannot be read: %v", src, err)}
	}
}

// BytesSource reads content held in memory, such as a ConfigMap key.
type BytesSource struct {
	Name    string
	Data    []byte
	Format  Format
	TempDir string
}

// Open implements Source. The content goes through a temporary file because Parquet needs
// random access.
func (s *BytesSource) Open(_ context.Context, _ store.SourceState) (RowReader, error) {
	path, err := spoolTo(s.TempDir, func(w io.Writer) error {
		_, err := w.Write(s.Data)
		return err
	})
	if err != nil {
		return nil, err
	}
	r, err := OpenFile(path, s.Format)
	if err != nil {
		_ = os.Remove(path)
		return nil, classifyOpenError(s, err)
	}
	return removeOnClose(r, path), nil
}

// State implements Source.
func (s *BytesSource) State() store.SourceState { return store.SourceState{} }

func (s *BytesSource) String() string { return s.Name }

// HTTPSource downloads a file over HTTP(S), skipping it when the server says it has not changed.
type HTTPSource struct {
	URL string
	// Authorization is sent as the Authorization header when set.
	Authorization string
	Format        Format
	Client        *http.Client
	TempDir       string

	state store.SourceState
}

// Open implements Source.
func (s *HTTPSource) Open(ctx context.Context, prev store.SourceState) (RowReader, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, &SourceError{Reason: ReasonUnreadableSource, Message: fmt.Sprintf("url %s: %v", s.URL, err)}
	}
	if s.Authorization != "" {
		req.Header.Set("Authorization", s.Authorization)
	}
	if prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	if prev.LastModified != "" {
		req.Header.Set("If-Modified-Since", prev.LastModified)
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, &SourceError{Reason: ReasonSourceUnavailable, Temporary: true,
			Message: fmt.Sprintf("GET %s: %v", s.URL, err)}
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		s.state = prev
		return nil, ErrNotModified
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, &SourceError{Reason: ReasonSourceNotFound, Message: fmt.Sprintf("GET %s: %s", s.URL, resp.Status)}
	case resp.StatusCode >= 300:
		return nil, &SourceError{Reason: ReasonSourceUnavailable, Temporary: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests,
			Message: fmt.Sprintf("GET %s: %s", s.URL, resp.Status)}
	}
	path, err := spoolTo(s.TempDir, func(w io.Writer) error {
		_, err := io.Copy(w, resp.Body)
		return err
	})
	if err != nil {
		return nil, &SourceError{Reason: ReasonSourceUnavailable, Temporary: true,
			Message: fmt.Sprintf("download %s: %v", s.URL, err)}
	}
	s.state = store.SourceState{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	r, err := OpenFile(path, s.Format)
	if err != nil {
		_ = os.Remove(path)
		return nil, classifyOpenError(s, err)
	}
	return removeOnClose(r, path), nil
}

// State implements Source.
func (s *HTTPSource) State() store.SourceState { return s.state }

func (s *HTTPSource) String() string { return s.URL }

// spoolTo writes content to a new temporary file and returns its path.
func spoolTo(dir string, write func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(dir, "kizuna-source-*")
	if err != nil {
		return "", err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return filepath.Clean(f.Name()), nil
}

// removeOnClose deletes a spooled file when its reader is closed.
func removeOnClose(r RowReader, path string) RowReader {
	return &spooledReader{RowReader: r, path: path}
}

type spooledReader struct {
	RowReader
	path string
}

func (r *spooledReader) Close() error {
	err := r.RowReader.Close()
	if rmErr := os.Remove(r.path); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
		err = rmErr
	}
	return err
}
