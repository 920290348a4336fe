// Package samples reads the manifests of config/samples for the tests that apply them.
package samples

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kizuna-dev/kizuna/test/envtest"
)

// Objects returns every object of the files config/samples/kustomization.yaml lists, in the
// kustomization's order, as `kubectl apply -k config/samples` applies them. A file without
// objects, or an object that sets a namespace, is an error: the samples are applied to any
// namespace.
func Objects() ([]*unstructured.Unstructured, error) {
	dir := filepath.Join(envtest.RepoRoot(), "config", "samples")
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read the samples' kustomization: %w", err)
	}
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &kustomization); err != nil {
		return nil, fmt.Errorf("parse the samples' kustomization: %w", err)
	}
	if len(kustomization.Resources) == 0 {
		return nil, errors.New("config/samples/kustomization.yaml lists no resources")
	}
	var objects []*unstructured.Unstructured
	for _, file := range kustomization.Resources {
		content, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return nil, fmt.Errorf("read sample %s: %w", file, err)
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(content)))
		documents := 0
		for {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("split sample %s into documents: %w", file, err)
			}
			var fields map[string]any
			if err := yaml.Unmarshal(doc, &fields); err != nil {
				return nil, fmt.Errorf("parse a document of sample %s: %w", file, err)
			}
			if len(fields) == 0 {
				continue // only comments, or an empty document
			}
			obj := &unstructured.Unstructured{Object: fields}
			if obj.GetNamespace() != "" {
				return nil, fmt.Errorf("sample %s: %s %s sets namespace %q; samples must be applicable to any namespace",
					file, obj.GetKind(), obj.GetName(), obj.GetNamespace())
			}
			objects = append(objects, obj)
			documents++
		}
		if documents == 0 {
			return nil, fmt.Errorf("sample %s holds no objects", file)
		}
	}
	return objects, nil
}

// Load is Objects for a test, which it stops on an error.
func Load(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	objects, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	return objects
}
