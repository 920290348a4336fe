package worker

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	dir := t.TempDir()
	write := func(content string) string {
		path := filepath.Join(dir, "memory.max")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Setenv("GOMEMLIMIT", "")
	if got := applyMemoryLimit(write("4294967296\n")); got != 3865470561 || debug.SetMemoryLimit(-1) != got {
		t.Errorf("a 4 GiB cgroup: limit %d (runtime %d), want 90%%: 3865470561", got, debug.SetMemoryLimit(-1))
	}
	for name, path := range map[string]string{"no limit": write("max\n"), "no cgroup": filepath.Join(dir, "missing")} {
		if got := applyMemoryLimit(path); got != 0 {
			t.Errorf("%s: limit %d, want none", name, got)
		}
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := applyMemoryLimit(write("4294967296")); got != 0 {
		t.Errorf("with GOMEMLIMIT set: limit %d, want the variable to win", got)
	}
}
