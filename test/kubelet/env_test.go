package kubelet

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B_2": "two"}
	tests := map[string]string{
		"$(A)":           "1",
		"x$(A)y$(B_2)z":  "x1ytwoz",
		"$(MISSING)":     "$(MISSING)",
		"$$(A)":          "$(A)",
		"cost $$5":       "cost $5",
		"no references":  "no references",
		"$(A":            "$(A",
		"$(A)$(A)$$$(A)": "11$1",
	}
	for in, want := range tests {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldValue(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "p", Namespace: "ns", UID: "u-1",
		Labels:      map[string]string{"batch.kubernetes.io/job-completion-index": "3"},
		Annotations: map[string]string{"note": "n"},
	}}
	tests := map[string]string{
		"metadata.name":      "p",
		"metadata.namespace": "ns",
		"metadata.uid":       "u-1",
		"metadata.labels['batch.kubernetes.io/job-completion-index']": "3",
		"metadata.annotations['note']":                                "n",
		"spec.nodeName":                                               "node-a",
		"status.podIP":                                                podIP,
	}
	for path, want := range tests {
		got, err := fieldValue(pod, path, "node-a")
		if err != nil || got != want {
			t.Errorf("fieldValue(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := fieldValue(pod, "status.phase", "node-a"); err == nil {
		t.Error("fieldValue of an unsupported path returned no error")
	}
}

// fakeSource serves Secrets and ConfigMaps from maps.
type fakeSource struct {
	secrets    map[string]map[string][]byte
	configMaps map[string]map[string]string
}

func (f fakeSource) secret(_ context.Context, _, name string) (*corev1.Secret, error) {
	data, ok := f.secrets[name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
	}
	return &corev1.Secret{Data: data}, nil
}

func (f fakeSource) configMap(_ context.Context, _, name string) (*corev1.ConfigMap, error) {
	data, ok := f.configMaps[name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
	}
	return &corev1.ConfigMap{Data: data}, nil
}

func TestContainerEnv(t *testing.T) {
	src := fakeSource{
		secrets:    map[string]map[string][]byte{"db": {"dsn": []byte("postgres://x")}},
		configMaps: map[string]map[string]string{"cfg": {"REGION": "JP", "MODE": "fast"}},
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "worker-0", Namespace: "ns"}}
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		Env: []corev1.EnvVar{
			{Name: "DSN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "dsn"}}},
			{Name: "WHERE", Value: "$(CFG_REGION)/$(POD)"},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "AFTER", Value: "$(POD)"},
			{Name: "OPTIONAL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k", Optional: ptr.To(true)}}},
			{Name: "CFG_MODE", Value: "slow"},
		},
	}
	got, err := containerEnv(context.Background(), src, pod, c, "node")
	if err != nil {
		t.Fatal(err)
	}
	// A variable refers only to those defined before it, and a later definition wins.
	want := []string{"CFG_MODE=slow", "CFG_REGION=JP", "DSN=postgres://x", "WHERE=JP/$(POD)", "POD=worker-0", "AFTER=worker-0"}
	if !slices.Equal(got, want) {
		t.Fatalf("env = %v, want %v", got, want)
	}

	c.Env = append(c.Env, corev1.EnvVar{Name: "MISSING", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}})
	if _, err := containerEnv(context.Background(), src, pod, c, "node"); err == nil || !strings.Contains(err.Error(), "no key password") {
		t.Fatalf("containerEnv with a missing key = %v, want an error naming the key", err)
	}
}

func TestCommandLine(t *testing.T) {
	k := New(nil, Options{Images: map[string]string{"img": "/opt/bin/kizuna"}})
	env := []string{"STEP=sync"}
	tests := []struct {
		command, args, want []string
	}{
		{nil, []string{"worker", "$(STEP)"}, []string{"/opt/bin/kizuna", "worker", "sync"}},
		{[]string{"/kizuna", "worker"}, []string{"$(STEP)"}, []string{"/opt/bin/kizuna", "worker", "sync"}},
		{[]string{"sh", "-c", "echo $(STEP)"}, nil, []string{"sh", "-c", "echo sync"}},
	}
	for _, tt := range tests {
		got := k.commandLine(&corev1.Container{Image: "img", Command: tt.command, Args: tt.args}, env)
		if !slices.Equal(got, tt.want) {
			t.Errorf("commandLine(%v, %v) = %v, want %v", tt.command, tt.args, got, tt.want)
		}
	}
}
