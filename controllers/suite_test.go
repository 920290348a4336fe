package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
	"github.com/kizuna-dev/kizuna/test/envtest"
)

// The controllers run once for the whole package against a real kube-apiserver; each test works
// in a namespace of its own.
var (
	k8sClient client.Client
	testStore store.Store
	testClock = clocktesting.NewFakePassiveClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	nsCounter atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
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

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(cdpv1alpha1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Client: client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
		}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create the manager:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "kizuna-controllers-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	dsn := "sqlite:" + filepath.Join(dir, "kizuna.db")
	if testStore, err = store.Open(context.Background(), dsn); err != nil {
		fmt.Fprintln(os.Stderr, "open the store:", err)
		return 1
	}
	defer func() { _ = testStore.Close() }()
	err = SetupWithManager(mgr, Options{
		MaxConcurrentReconciles: 2,
		Clock:                   testClock,
		Store:                   testStore,
		Workers: WorkerOptions{Image: "kizuna:test", StoreDSN: dsn, BackoffLimit: 1,
			SuccessfulJobsHistoryLimit: 2, FailedJobsHistoryLimit: 1},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()

	k8sClient, err = client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create a client:", err)
		return 1
	}
	return m.Run()
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("test-%d", nsCounter.Add(1))}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// readyCondition returns the Ready condition of obj as the API server has it now.
func readyCondition(g Gomega, obj conditionedObject) metav1.Condition {
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	c := meta.FindStatusCondition(*obj.StatusConditions(), cdpv1alpha1.ConditionReady)
	g.Expect(c).NotTo(BeNil(), "no Ready condition yet")
	return *c
}

// eventuallyReady waits until obj's Ready condition has the status and reason, for the current
// generation, and its message contains every one of messageParts.
func eventuallyReady(t *testing.T, obj conditionedObject, status metav1.ConditionStatus, reason string, messageParts ...string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	NewWithT(t).Eventually(func(g Gomega) {
		got = readyCondition(g, obj)
		g.Expect(got.Status).To(Equal(status), "message: %s", got.Message)
		g.Expect(got.Reason).To(Equal(reason), "message: %s", got.Message)
		g.Expect(got.ObservedGeneration).To(Equal(obj.GetGeneration()))
		for _, part := range messageParts {
			g.Expect(got.Message).To(ContainSubstring(part))
		}
	}).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	return got
}
