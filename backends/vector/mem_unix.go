//go:build unix

package vector

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapAnon returns n bytes of zeroed anonymous memory.
func mapAnon(n int) ([]byte, error) {
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// mapFile maps n bytes of the file fd, read-only, from offset off (a
// multiple of the page size).
func mapFile(fd uintptr, off int64, n int) ([]byte, error) {
	p, err := unix.MmapPtr(int(fd), off, nil, uintptr(n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// remapFile maps the file fd from offset off over b, which holds the same
// bytes, so that b's pages are the file's: readers of b see no change, and
// memory that was anonymous becomes page cache, which the system may
// reclaim and read again.
func remapFile(b []byte, fd uintptr, off int64) error {
	_, err := unix.MmapPtr(int(fd), off, unsafe.Pointer(&b[0]), uintptr(len(b)), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED)
	return err
}

func unmap(b []byte) {
	if len(b) > 0 {
		unix.MunmapPtr(unsafe.Pointer(&b[0]), uintptr(len(b)))
	}
}

// dontNeed lets the system drop b's pages, of a file mapping, from this
// process's memory; they stay in the page cache and read back on use.
func dontNeed(b []byte) {
	if len(b) > 0 {
		unix.Madvise(b, unix.MADV_DONTNEED)
	}
}
