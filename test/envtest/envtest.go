// Package envtest starts a real kube-apiserver and etcd with Kizuna's CRDs installed, for the
// integration tests of the API and the controllers. The binaries come from
// hack/build-control-plane.sh, which builds them from Go modules and caches them by version.
package envtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Environment is a running control plane.
type Environment struct {
	env    *envtest.Environment
	Config *rest.Config
}

// RepoRoot returns the root of the repository this package was compiled from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir returns the folder holding kube-apiserver, etcd and kubectl: KUBEBUILDER_ASSETS when
// it is set, else the cache folder of hack/build-control-plane.sh.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	script := filepath.Join(RepoRoot(), "hack", "build-control-plane.sh")
	out, err := exec.Command("bash", script, "--print").Output()
	if err != nil {
		return "", fmt.Errorf("ask %s where the control plane is: %w", script, err)
	}
	dir := strings.TrimSpace(string(out))
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s is not built yet in %s: run `make test` or hack/build-control-plane.sh first", bin, dir)
		}
	}
	return dir, nil
}

// Start starts etcd and kube-apiserver and installs the CRDs of config/crd/bases.
func Start() (*Environment, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start the local control plane from %s: %w", assets, err)
	}
	return &Environment{env: env, Config: cfg}, nil
}

// Stop stops the control plane and removes its data.
func (e *Environment) Stop() error {
	if e == nil {
		return errors.New("no environment to stop")
	}
	return e.env.Stop()
}

// KubeConfig returns a kubeconfig file's content for an admin user of the control plane.
func (e *Environment) KubeConfig() []byte { return e.env.KubeConfig }
