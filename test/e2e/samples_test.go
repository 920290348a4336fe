package e2e

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kizuna-dev/kizuna/test/samples"
)

// typedSamples decodes the samples into their typed objects, in the kustomization's order, for
// a test to change what must differ on this machine before it creates them (createSamples).
func typedSamples(t *testing.T) []client.Object {
	t.Helper()
	var objects []client.Object
	for _, u := range samples.Load(t) {
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
