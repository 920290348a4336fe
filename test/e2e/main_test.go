// Package e2e runs Kizuna end to end on a local cluster that really runs Jobs: kube-apiserver,
// etcd, kube-controller-manager and the process kubelet of test/kubelet, with the manager running
// as a process of the kizuna binary built from the working tree.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/test/cluster"
	"github.com/kizuna-dev/kizuna/test/envtest"
)

const (
	// workerImage is the image the kubelet runs as the kizuna binary.
	workerImage = "kizuna.local/kizuna:e2e"
	// shellImage is an image the kubelet runs as /bin/sh, for the harness's own tests.
	shellImage = "kizuna.local/shell:e2e"
)

var (
	k8s       client.Client
	local     *cluster.Cluster
	nsCounter atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kizuna-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	binary := filepath.Join(dir, "kizuna")
	build := exec.Command("go", "build", "-o", binary, "./cmd/kizuna")
	build.Dir = envtest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build kizuna: %v\n%s", err, out)
		return 1
	}

	local, err = cluster.Start(cluster.Options{
		Dir:    dir,
		Images: map[string]string{workerImage: binary, shellImage: "/bin/sh"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the local cluster:", err)
		return 1
	}
	defer func() {
		if err := local.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the local cluster:", err)
		}
	}()

	managerLog, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	manager := exec.Command(binary, "manager", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--store-dsn=sqlite:"+filepath.Join(dir, "kizuna.db"), "--worker-image="+workerImage, "--job-backoff-limit=1")
	manager.Env = append(os.Environ(), "KUBECONFIG="+local.Kubeconfig)
	manager.Stdout, manager.Stderr = managerLog, managerLog
	if err := manager.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start the manager:", err)
		return 1
	}
	defer func() {
		_ = manager.Process.Signal(syscall.SIGTERM)
		_ = manager.Wait()
	}()

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(cdpv1alpha1.AddToScheme(scheme))
	k8s, err = client.New(local.Config, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		for _, name := range []string{"manager.log", "kube-controller-manager.log"} {
			if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				fmt.Fprintf(os.Stderr, "--- %s (last 4 KiB)\n%s\n", name, tail(data, 4096))
			}
		}
	}
	return code
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("e2e-%d", nsCounter.Add(1))}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// timeouts: the Job controller batches its syncs for a second and waits 10 s, then 20 s, before
// it replaces a failed Pod.
const (
	jobTimeout   = 60 * time.Second
	pollInterval = 100 * time.Millisecond
)
