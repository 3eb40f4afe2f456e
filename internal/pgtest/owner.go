package pgtest

// Who the cluster runs as. PostgreSQL refuses to run as root, so a root test
// runs it as the "postgres" user, which needs to own its folders and to
// reach them: the folders of t.TempDir are root's, and the top one is
// closed to others.

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// owner returns the credential of the user to run PostgreSQL as, or nil
// for the current user when that is not root.
func owner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL does not run as root and there is no user postgres to run it as (%v); run the tests as another user, or `%s`, which adds that user", err, Install)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// own gives path to the cluster's owner and lets that user reach it: each
// folder above it that others cannot search gets the search bit for
// others (only that, so nobody can list or change them).
func (s *Server) own(path string) error {
	if s.owner == nil {
		return nil
	}
	if err := os.Chown(path, int(s.owner.Uid), int(s.owner.Gid)); err != nil {
		return fmt.Errorf("give %s to the postgres user: %w", path, err)
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("let the postgres user reach %s: %w", dir, err)
			}
		}
		if parent := filepath.Dir(dir); parent == dir {
			return nil
		}
	}
}
