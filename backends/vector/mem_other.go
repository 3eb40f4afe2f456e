//go:build !unix

package vector

import "errors"

var errNoMap = errors.New("memory mapping is not supported here")

func mapAnon(n int) ([]byte, error)                        { return nil, errNoMap }
func mapFile(fd uintptr, off int64, n int) ([]byte, error) { return nil, errNoMap }
func remapFile(b []byte, fd uintptr, off int64) error      { return errNoMap }
func unmap(b []byte)                                       {}

func dontNeed(b []byte) {}
