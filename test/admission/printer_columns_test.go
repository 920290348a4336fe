package admission

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// TestDateColumnsReadPastTimes checks the printer columns of Kizuna's CRDs as the API server
// serves them: kubectl shows a date column as the age of its time, and a time in the future as
// <invalid>. Only a creation time or a status time named last… (one that has happened) may be a
// date; a time to come (a next run, sync or evaluation) is a string column.
func TestDateColumnsReadPastTimes(t *testing.T) {
	var crds unstructured.UnstructuredList
	crds.SetAPIVersion("apiextensions.k8s.io/v1")
	crds.SetKind("CustomResourceDefinitionList")
	if err := k8s.List(context.Background(), &crds); err != nil {
		t.Fatalf("list CRDs: %v", err)
	}
	dates := 0
	for _, crd := range crds.Items {
		if group, _, _ := unstructured.NestedString(crd.Object, "spec", "group"); group != cdpv1alpha1.GroupVersion.Group {
			continue
		}
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			columns, _, _ := unstructured.NestedSlice(v.(map[string]any), "additionalPrinterColumns")
			for _, c := range columns {
				column := c.(map[string]any)
				if column["type"] != "date" {
					continue
				}
				dates++
				path, _ := column["jsonPath"].(string)
				if path != ".metadata.creationTimestamp" && !strings.HasPrefix(path, ".status.last") {
					t.Errorf("%s: column %q is a date of %s, which may be in the future and would print as <invalid>; make it type=string",
						crd.GetName(), column["name"], path)
				}
			}
		}
	}
	if dates == 0 {
		t.Fatal("found no date columns in Kizuna's CRDs; the walk is broken")
	}
}
