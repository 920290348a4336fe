// Package cluster starts a local Kubernetes cluster that really runs Kizuna's Jobs: etcd and
// kube-apiserver (through envtest, with Kizuna's CRDs), kube-controller-manager with the Job
// controller, the garbage collector and the TTL-after-finished controller, and the process kubelet
// of package kubelet. End-to-end tests and `make demo` share it.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kizuna-dev/kizuna/test/envtest"
	"github.com/kizuna-dev/kizuna/test/kubelet"
)

// Options configure a cluster.
type Options struct {
	// Images maps image names to the local executables the kubelet runs for them.
	Images map[string]string
	// Dir holds the kubeconfig, the controller-manager's log and the Pods' working directories.
	// Defaults to a new temporary folder, removed by Stop.
	Dir string
}

// Cluster is a running local cluster.
type Cluster struct {
	Config     *rest.Config
	Kubeconfig string
	Kubelet    *kubelet.Kubelet
	Dir        string

	env               *envtest.Environment
	controllerManager *exec.Cmd
	cmDone            chan struct{}
	cancel            context.CancelFunc
	kubeletDone       chan error
	removeDir         bool
	stopOnce          sync.Once
}

// Start starts the cluster. Call Stop to stop it.
func Start(opts Options) (*Cluster, error) {
	c := &Cluster{Dir: opts.Dir}
	if c.Dir == "" {
		dir, err := os.MkdirTemp("", "kizuna-cluster-")
		if err != nil {
			return nil, err
		}
		c.Dir, c.removeDir = dir, true
	}
	if err := c.start(opts); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(opts Options) error {
	env, err := envtest.Start()
	if err != nil {
		return err
	}
	c.env, c.Config = env, env.Config
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, env.KubeConfig(), 0o600); err != nil {
		return err
	}

	assets, err := envtest.AssetsDir()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(c.Dir, "kube-controller-manager.log"))
	if err != nil {
		return err
	}
	cm := exec.Command(filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig,
		"--controllers=job-controller,garbage-collector-controller,ttl-after-finished-controller",
		"--leader-elect=false",
		"--secure-port=0",
		"--concurrent-job-syncs=4",
	)
	cm.Stdout, cm.Stderr = logFile, logFile
	cm.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cm.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start kube-controller-manager (built by hack/build-control-plane.sh): %w", err)
	}
	c.controllerManager, c.cmDone = cm, make(chan struct{})
	go func() {
		_ = cm.Wait()
		_ = logFile.Close()
		close(c.cmDone)
	}()

	clientset, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	c.Kubelet = kubelet.New(clientset, kubelet.Options{
		Images:   opts.Images,
		RootDir:  filepath.Join(c.Dir, "pods"),
		ExtraEnv: []string{"KUBECONFIG=" + c.Kubeconfig},
	})
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.kubeletDone = cancel, make(chan error, 1)
	go func() { c.kubeletDone <- c.Kubelet.Run(ctx) }()
	return nil
}

// Stop stops the kubelet (killing the processes it runs), the controller manager and the control
// plane, and removes the temporary folder.
func (c *Cluster) Stop() error {
	var errs []error
	c.stopOnce.Do(func() {
		if c.cancel != nil {
			c.cancel()
			if err := <-c.kubeletDone; err != nil {
				errs = append(errs, fmt.Errorf("kubelet: %w", err))
			}
		}
		if c.controllerManager != nil {
			_ = syscall.Kill(-c.controllerManager.Process.Pid, syscall.SIGTERM)
			select {
			case <-c.cmDone:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-c.controllerManager.Process.Pid, syscall.SIGKILL)
				<-c.cmDone
			}
		}
		if c.env != nil {
			if err := c.env.Stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.removeDir {
			errs = append(errs, os.RemoveAll(c.Dir))
		}
	})
	return errors.Join(errs...)
}

// ControllerManagerLog returns kube-controller-manager's output, for failing tests.
func (c *Cluster) ControllerManagerLog() string {
	data, _ := os.ReadFile(filepath.Join(c.Dir, "kube-controller-manager.log"))
	return string(data)
}
