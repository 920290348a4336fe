package worker

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryMax is where cgroup v2 tells a container its memory limit.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// ApplyMemoryLimit sets the Go runtime's soft memory limit to 90% of the container's memory
// limit, unless GOMEMLIMIT is set or there is no limit. Without it the garbage collector lets
// the heap grow to twice what is live, and a resolution that fits its limit comfortably is
// killed for memory it did not need. It returns the limit it set, or 0.
func ApplyMemoryLimit() int64 { return applyMemoryLimit(cgroupMemoryMax) }

func applyMemoryLimit(path string) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || limit <= 0 { // "max": no limit
		return 0
	}
	soft := limit / 10 * 9
	debug.SetMemoryLimit(soft)
	return soft
}
