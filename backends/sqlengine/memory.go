package sqlengine

import (
	"fmt"

	"lakehouse/internal/sysmem"
)

// DuckDB's default memory_limit is 80% of the memory it sees, which leaves
// little for the rest of the server: the Go heap, the vector indexes, and a
// second DuckDB (ingest opens its own). A database whose Config leaves
// MemoryLimit empty gets a quarter instead.

// memoryLimit is the memory_limit to set: the configured one, else a
// quarter of the memory this process may use. It is "" (DuckDB's own
// default) only where that memory cannot be read, outside Linux.
func (c Config) memoryLimit() string {
	if c.MemoryLimit != "" {
		return c.MemoryLimit
	}
	n := sysmem.Usable()
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("%dMiB", n/4>>20)
}
