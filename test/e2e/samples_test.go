package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kizuna-dev/kizuna/test/envtest"
)

// sampleObjects reads every document of the files config/samples/kustomization.yaml lists, in
// the kustomization's order, as `kubectl apply -k config/samples` would apply them.
func sampleObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	dir := filepath.Join(envtest.RepoRoot(), "config", "samples")
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatalf("read the samples' kustomization: %v", err)
	}
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &kustomization); err != nil {
		t.Fatalf("parse the samples' kustomization: %v", err)
	}
	var objects []*unstructured.Unstructured
	for _, file := range kustomization.Resources {
		content, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatalf("read sample %s: %v", file, err)
		}
		decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(content), 4096)
		for {
			u := &unstructured.Unstructured{}
			err := decoder.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("decode sample %s: %v", file, err)
			}
			if len(u.Object) > 0 {
				objects = append(objects, u)
			}
		}
	}
	if len(objects) == 0 {
		t.Fatal("config/samples holds no objects")
	}
	return objects
}

// typedSamples decodes the samples into their typed objects, in the kustomization's order, for
// a test to change what must differ on this machine before it creates them (createSamples).
func typedSamples(t *testing.T) []client.Object {
	t.Helper()
	var objects []client.Object
	for _, u := range sampleObjects(t) {
		typed, err := k8s.Scheme().New(u.GroupVersionKind())
		if err != nil {
			t.Fatalf("sample %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		// Strict: a field the type does not have fails here instead of being dropped.
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, typed, true); err != nil {
			t.Fatalf("decode sample %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		objects = append(objects, typed.(client.Object))
	}
	return objects
}

// findSample returns the sample of the type and name, failing the test when there is none.
func findSample[T client.Object](t *testing.T, samples []client.Object, name string) T {
	t.Helper()
	for _, obj := range samples {
		if typed, ok := obj.(T); ok && obj.GetName() == name {
			return typed
		}
	}
	var zero T
	t.Fatalf("config/samples has no %T named %s", zero, name)
	return zero
}

// createSamples creates the samples in the namespace, in order.
func createSamples(t *testing.T, ns string, samples []client.Object) {
	t.Helper()
	for _, obj := range samples {
		obj.SetNamespace(ns)
		createObject(t, obj)
	}
}
