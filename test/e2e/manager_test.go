package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kizuna-dev/kizuna/test/envtest"
)

// TestSamplesBecomeReady applies config/samples and waits until the manager, running as a process
// of the kizuna binary, reports every resource Ready.
func TestSamplesBecomeReady(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	dir := filepath.Join(envtest.RepoRoot(), "config", "samples")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var objects []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		decoder := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			var u unstructured.Unstructured
			if err := decoder.Decode(&u.Object); err != nil {
				break
			}
			if len(u.Object) == 0 {
				continue
			}
			u.SetNamespace(ns)
			if err := k8s.Create(context.Background(), &u); err != nil {
				t.Fatalf("create %s %s from %s: %v", u.GetKind(), u.GetName(), filepath.Base(f), err)
			}
			objects = append(objects, &u)
		}
	}

	for _, obj := range objects {
		if obj.GroupVersionKind().Group != "cdp.kizuna.dev" {
			continue
		}
		NewWithT(t).Eventually(func(g Gomega) {
			latest := &unstructured.Unstructured{}
			latest.SetGroupVersionKind(obj.GroupVersionKind())
			g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), latest)).To(Succeed())
			conds, _, _ := unstructured.NestedSlice(latest.Object, "status", "conditions")
			ready := ""
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
					ready, _ = m["status"].(string)
				}
			}
			g.Expect(ready).To(Equal("True"), "%s %s: %v", obj.GetKind(), obj.GetName(), conds)
		}).WithTimeout(jobTimeout).WithPolling(pollInterval).Should(Succeed())
	}
}
