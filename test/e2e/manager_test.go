package e2e

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kizuna-dev/kizuna/test/samples"
)

// TestSamplesBecomeReady applies config/samples and waits until the manager, running as a process
// of the kizuna binary, reports every resource Ready.
func TestSamplesBecomeReady(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	objects := samples.Load(t)
	for _, u := range objects {
		u.SetNamespace(ns)
		if err := k8s.Create(context.Background(), u); err != nil {
			t.Fatalf("create sample %s %s: %v", u.GetKind(), u.GetName(), err)
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
