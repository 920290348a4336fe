// Command demo starts a local control plane, runs Kizuna's manager against it, applies the
// samples and shows them reconcile: what `make demo` runs. It stops everything it started on
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

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kizuna-dev/kizuna/test/envtest"
)

const namespace = "kizuna-demo"

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
	step("starting the local control plane (etcd, kube-apiserver) with Kizuna's CRDs")
	started := time.Now()
	env, err := envtest.Start()
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the local control plane")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stop the control plane:", err)
		}
	}()
	fmt.Printf("    ready in %.1fs\n", time.Since(started).Seconds())

	dir, err := os.MkdirTemp("", "kizuna-demo-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig(), 0o600); err != nil {
		return err
	}
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
	manager := exec.Command(kizuna, "manager", "--metrics-bind-address=0", "--health-probe-bind-address=0")
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

	step("applying config/samples to namespace " + namespace)
	if err := kubectl("create", "namespace", namespace).Run(); err != nil {
		return fmt.Errorf("create the namespace: %w", err)
	}
	if err := kubectl("apply", "-n", namespace, "-k", filepath.Join(envtest.RepoRoot(), "config", "samples")).Run(); err != nil {
		return fmt.Errorf("apply the samples: %w", err)
	}

	step("waiting for every sample to become Ready")
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		return err
	}
	waitErr := waitReady(ctx, c, timeout)

	step("kubectl get kizuna -n " + namespace)
	_ = kubectl("get", "kizuna", "-n", namespace).Run()
	step("kubectl get kizuna -n " + namespace + " -o wide (reasons)")
	_ = kubectl("get", "kizuna", "-n", namespace, "-o", "wide").Run()
	if waitErr != nil {
		fmt.Fprintf(os.Stderr, "demo: %v; the manager's log is below\n", waitErr)
		if log, err := os.ReadFile(logPath); err == nil {
			os.Stderr.Write(log)
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

var kinds = []string{"DataSource", "IdentityResolution", "Segment", "Channel", "DeliveryPolicy", "Campaign"}

// waitReady polls until every Kizuna object in the namespace has Ready=True.
func waitReady(ctx context.Context, c client.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		notReady, total, err := countNotReady(ctx, c)
		if err == nil && notReady == 0 && total > 0 {
			fmt.Printf("    all %d resources are Ready\n", total)
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%d of %d resources are not Ready after %s", notReady, total, timeout)
			}
			return err
		case <-tick.C:
		}
	}
}

func countNotReady(ctx context.Context, c client.Client) (notReady, total int, err error) {
	for _, kind := range kinds {
		var list unstructured.UnstructuredList
		list.SetGroupVersionKind(schema.GroupVersionKind{Group: "cdp.kizuna.dev", Version: "v1alpha1", Kind: kind + "List"})
		if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return 0, 0, err
		}
		for _, item := range list.Items {
			total++
			conds, _, _ := unstructured.NestedSlice(item.Object, "status", "conditions")
			if !readyTrue(conds) {
				notReady++
			}
		}
	}
	if total == 0 {
		return 0, 0, errors.New("no Kizuna resources found")
	}
	return notReady, total, nil
}

func readyTrue(conds []any) bool {
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Ready" {
			return m["status"] == "True"
		}
	}
	return false
}

func step(msg string) { fmt.Printf("==> %s\n", msg) }
