package sysmem

import (
	"errors"
	"testing"
)

func TestUsable(t *testing.T) {
	const meminfo = "MemTotal:       24683776 kB\nMemFree:        23965204 kB\n"
	const total = 24683776 << 10
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"machine", map[string]string{meminfoFile: meminfo}, total},
		{"cgroup v2 unlimited", map[string]string{meminfoFile: meminfo, cgroup2File: "max\n"}, total},
		{"cgroup v2 limit", map[string]string{meminfoFile: meminfo, cgroup2File: "2147483648\n"}, 2 << 30},
		{"cgroup v1 unlimited", map[string]string{meminfoFile: meminfo, cgroup1File: "9223372036854771712\n"}, total},
		{"cgroup v1 limit", map[string]string{meminfoFile: meminfo, cgroup1File: "1073741824\n"}, 1 << 30},
		{"both, the lower wins", map[string]string{meminfoFile: meminfo, cgroup2File: "2147483648", cgroup1File: "1073741824"}, 1 << 30},
		{"no meminfo", map[string]string{cgroup2File: "2147483648"}, 0},
		{"bad meminfo", map[string]string{meminfoFile: "MemTotal: lots\n"}, 0},
	} {
		read := func(name string) ([]byte, error) {
			if s, ok := tc.files[name]; ok {
				return []byte(s), nil
			}
			return nil, errors.New("no such file")
		}
		if got := usable(read); got != tc.want {
			t.Errorf("%s: usable = %d, want %d", tc.name, got, tc.want)
		}
	}
}
