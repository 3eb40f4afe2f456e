// Package sysmem tells how much memory this process may use, so that the
// engines that hold data in memory (DuckDB, the vector indexes) can take
// defaults that leave room for each other.
package sysmem

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Where Linux tells how much memory the process may use: the machine's
// total, and the limit of its cgroup (v2, then v1) as seen from inside a
// container.
const (
	meminfoFile = "/proc/meminfo"
	cgroup2File = "/sys/fs/cgroup/memory.max"
	cgroup1File = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
)

// Usable returns the bytes of memory this process may use: the machine's
// total, or its cgroup's limit when that is lower; 0 when the total cannot
// be read (outside Linux).
func Usable() int64 { return usable(os.ReadFile) }

// usable is Usable reading its files with read.
func usable(read func(string) ([]byte, error)) int64 {
	data, err := read(meminfoFile)
	if err != nil {
		return 0
	}
	total := memTotal(data)
	for _, f := range []string{cgroup2File, cgroup1File} {
		data, err := read(f)
		if err != nil {
			continue
		}
		// "max" (v2) and a number near 2^63 (v1) both mean no limit: the
		// first does not parse, the second is above the total.
		limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err == nil && limit > 0 && limit < total {
			total = limit
		}
	}
	return total
}

// memTotal returns the MemTotal line of /proc/meminfo in bytes, or 0.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
