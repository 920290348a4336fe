// Package admission checks, against a real kube-apiserver, that the CRDs' OpenAPI schemas and CEL
// rules accept what the samples declare and reject what they must, with messages that name the
// field and say what to fix.
package admission

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kizuna-dev/kizuna/test/envtest"
)

// k8s is a client of the control plane that TestMain starts for the whole package.
var k8s client.Client

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env, err := envtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the control plane:", err)
		}
	}()
	k8s, err = client.New(env.Config, client.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create a client:", err)
		return 1
	}
	return m.Run()
}

var namespaceCount atomic.Int64

// newNamespace creates a namespace for one test, so that tests never see each other's objects.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("admission-%d", namespaceCount.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// object parses one YAML manifest into an unstructured object in namespace.
func object(t *testing.T, manifest, namespace string) *unstructured.Unstructured {
	t.Helper()
	var content map[string]any
	if err := yaml.Unmarshal([]byte(manifest), &content); err != nil {
		t.Fatalf("parse manifest: %v\n%s", err, manifest)
	}
	obj := &unstructured.Unstructured{Object: content}
	obj.SetNamespace(namespace)
	return obj
}

// requireInvalid fails the test unless err is an Invalid error of the API server whose message
// names field and contains message.
func requireInvalid(t *testing.T, err error, field, message string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the API server accepted the object; want it rejected at %s with %q", field, message)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid error at %s with %q, got %v", field, message, err)
	}
	if !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), message) {
		t.Fatalf("want the error to name %s and say %q, got:\n%v", field, message, err)
	}
}

// problems lists the field errors of an Invalid error. It leaves out the API server's note that
// CEL rules were skipped because the object failed its schema: that is not a problem of its own.
func problems(err error) []metav1.StatusCause {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return nil
	}
	var out []metav1.StatusCause
	for _, cause := range status.Status().Details.Causes {
		if !strings.Contains(cause.Message, "some validation rules were not checked") {
			out = append(out, cause)
		}
	}
	return out
}
