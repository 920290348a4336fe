// Command demo starts a local cluster that runs Jobs (test/cluster), runs Kizuna's manager against
// it, applies the samples and shows them reconcile: what `make demo` runs. It stops everything it started on
// Ctrl-C, or right after showing the result with -exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kizuna-dev/kizuna/test/cluster"
	"github.com/kizuna-dev/kizuna/test/envtest"
)

const (
	namespace = "kizuna-demo"
	// workerImage is the image the manager's Jobs run; the process kubelet runs it as bin/kizuna.
	workerImage = "ghcr.io/kizuna-dev/kizuna:dev"
)

func main() {
	kizuna := flag.String("kizuna", "bin/kizuna", "the kizuna binary to run as the manager")
	exit := flag.Bool("exit", false, "exit after showing the result instead of waiting for Ctrl-C")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long to wait for the samples to become Ready")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *kizuna, *exit, *timeout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kizuna string, exitAfterShowing bool, timeout time.Duration) error {
	step("starting the local cluster: etcd, kube-apiserver, kube-controller-manager and the process kubelet")
	started := time.Now()
	binary, err := filepath.Abs(kizuna)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kizuna-demo-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	local, err := cluster.Start(cluster.Options{Dir: dir, Images: map[string]string{workerImage: binary}})
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the local cluster")
		if err := local.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stop the cluster:", err)
		}
	}()
	fmt.Printf("    ready in %.1fs\n", time.Since(started).Seconds())

	kubeconfig := local.Kubeconfig
	assets, err := envtest.AssetsDir()
	if err != nil {
		return err
	}
	kubectl := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, filepath.Join(assets, "kubectl"), args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd
	}

	step("starting the manager: " + kizuna + " manager")
	manager := exec.Command(binary, "manager", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	manager.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	logPath := filepath.Join(dir, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()
	manager.Stdout, manager.Stderr = logFile, logFile
	if err := manager.Start(); err != nil {
		return fmt.Errorf("start %s (run `make build` first): %w", kizuna, err)
	}
	defer func() {
		step("stopping the manager")
		_ = manager.Process.Signal(syscall.SIGTERM)
		_ = manager.Wait()
	}()

	if err := kubectl("create", "namespace", namespace).Run(); err != nil {
		return fmt.Errorf("create the namespace: %w", err)
	}
	c, err := client.New(local.Config, client.Options{})
	if err != nil {
		return err
	}
	samples := filepath.Join(envtest.RepoRoot(), "config", "samples")
	files, err := sampleFiles(samples)
	if err != nil {
		return err
	}

	// First everything but the Secrets, to show how a resource says what it is waiting for.
	step("applying config/samples without secrets.yaml to namespace " + namespace)
	for _, f := range files {
		if f == secretsFile {
			continue
		}
		if err := kubectl("apply", "-n", namespace, "-f", filepath.Join(samples, f)).Run(); err != nil {
			return fmt.Errorf("apply %s: %w", f, err)
		}
	}
	if err := waitFor(ctx, c, time.Now(), timeout, "every resource has a Ready condition", allReconciled); err != nil {
		return err
	}
	step("kubectl get kizuna -n " + namespace + " -o wide: each resource says what it waits for")
	_ = kubectl("get", "kizuna", "-n", namespace, "-o", "wide").Run()
	step("why is the welcome series waiting? (its Ready condition's message)")
	_ = kubectl("get", "campaign", "welcome-series", "-n", namespace,
		"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}{"\n"}`).Run()

	step("applying secrets.yaml: the credentials appear, and every resource turns Ready without a resync")
	applied := time.Now()
	if err := kubectl("apply", "-n", namespace, "-f", filepath.Join(samples, secretsFile)).Run(); err != nil {
		return fmt.Errorf("apply %s: %w", secretsFile, err)
	}
	waitErr := waitFor(ctx, c, applied, timeout, "every resource is Ready", allReady)
	step("kubectl get kizuna,jobs,pods -n " + namespace)
	_ = kubectl("get", "kizuna,jobs,pods", "-n", namespace).Run()
	if waitErr != nil {
		_ = kubectl("get", "kizuna", "-n", namespace, "-o", "wide").Run()
		fmt.Fprintf(os.Stderr, "demo: %v; the manager's log is below\n", waitErr)
		if log, err := os.ReadFile(logPath); err == nil {
			_, _ = os.Stderr.Write(log)
		}
		return waitErr
	}

	if exitAfterShowing {
		return nil
	}
	fmt.Printf("\nThe cluster keeps running. Try:\n  KUBECONFIG=%s %s get kizuna -n %s\nPress Ctrl-C to stop.\n",
		kubeconfig, filepath.Join(assets, "kubectl"), namespace)
	<-ctx.Done()
	return nil
}

const secretsFile = "secrets.yaml"

// sampleFiles lists the files of config/samples in the order its kustomization applies them.
func sampleFiles(dir string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("read %s/kustomization.yaml: %w", dir, err)
	}
	return k.Resources, nil
}

var kinds = []string{"DataSource", "IdentityResolution", "Segment", "Channel", "DeliveryPolicy", "Campaign"}

// readiness is the Ready status of every Kizuna object in the demo namespace: "" when an object
// has no Ready condition yet.
func readiness(ctx context.Context, c client.Client) ([]string, error) {
	var statuses []string
	for _, kind := range kinds {
		var list unstructured.UnstructuredList
		list.SetGroupVersionKind(schema.GroupVersionKind{Group: "cdp.kizuna.dev", Version: "v1alpha1", Kind: kind + "List"})
		if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			conds, _, _ := unstructured.NestedSlice(item.Object, "status", "conditions")
			statuses = append(statuses, readyStatus(conds))
		}
	}
	if len(statuses) == 0 {
		return nil, errors.New("no Kizuna resources found")
	}
	return statuses, nil
}

func readyStatus(conds []any) string {
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

func allReconciled(statuses []string) bool { return !slices.Contains(statuses, "") }

func allReady(statuses []string) bool {
	return !slices.ContainsFunc(statuses, func(s string) bool { return s != "True" })
}

// waitFor polls the demo namespace until done holds, and reports how long it took since started.
func waitFor(ctx context.Context, c client.Client, started time.Time, timeout time.Duration, what string, done func([]string) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		statuses, err := readiness(ctx, c)
		if err == nil && done(statuses) {
			fmt.Printf("    %s (%d resources, %.1fs)\n", what, len(statuses), time.Since(started).Seconds())
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("not yet after %s: %s", timeout, what)
			}
			return err
		case <-tick.C:
		}
	}
}

func step(msg string) { fmt.Printf("==> %s\n", msg) }
