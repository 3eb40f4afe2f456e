package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"lakehouse/backends/errs"
)

// crashRootEnv tells the test binary, run again by TestFS_Crash, to act as
// the writer that gets killed, and where its store is.
const crashRootEnv = "LAKEHOUSE_STORE_CRASH_ROOT"

// crashKeys are the keys the writer rewrites, some of them in folders.
var crashKeys = []string{"k0", "k1", "k2", "dir/k3", "dir/sub/k4", "dir/sub/k5.json"}

// crashContent returns version v of key's content: "key=<key> version=<v> "
// repeated to 1-200 KiB, then a line with the sha256 of that text. Every
// version differs in size and text, and any torn or mixed content fails
// checkCrashContent.
func crashContent(key string, v int) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(v)))
	size := 1<<10 + rng.IntN(199<<10)
	unit := fmt.Sprintf("key=%s version=%d ", key, v)
	body := bytes.Repeat([]byte(unit), size/len(unit)+1)[:size]
	sum := sha256.Sum256(body)
	return fmt.Appendf(body, "\nsha256=%s\n", hex.EncodeToString(sum[:]))
}

// checkCrashContent returns the version of key that data is, or an error if
// data is not exactly one whole version of key.
func checkCrashContent(key string, data []byte) (int, error) {
	var k string
	var v int
	if _, err := fmt.Sscanf(string(data), "key=%s version=%d ", &k, &v); err != nil {
		return 0, fmt.Errorf("no header in %q: %w", head(data), err)
	}
	if k != key {
		return 0, fmt.Errorf("content of key %q found under %q", k, key)
	}
	if !bytes.Equal(data, crashContent(key, v)) {
		return 0, fmt.Errorf("%d bytes that are not a whole version %d (%q...)", len(data), v, head(data))
	}
	return v, nil
}

// head returns the start of data, for messages.
func head(data []byte) []byte { return data[:min(len(data), 40)] }

// TestFS_CrashChild is not a test by itself: TestFS_Crash runs the test
// binary again with only this test selected and crashRootEnv set. It then
// rewrites crashKeys with ever newer versions, printing "ack <key> <version>"
// after each Put returns, until it is killed.
func TestFS_CrashChild(t *testing.T) {
	root := os.Getenv(crashRootEnv)
	if root == "" {
		t.Skip("runs only as the writer of TestFS_Crash")
	}
	st, err := OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Minute) // in case the parent is gone
	for v := 1; time.Now().Before(deadline); v++ {
		for _, key := range crashKeys {
			if _, err := st.Put(ctx, key, bytes.NewReader(crashContent(key, v)), "", 0); err != nil {
				t.Fatalf("Put(%q, version %d): %v", key, v, err)
			}
			if _, err := fmt.Printf("ack %s %d\n", key, v); err != nil {
				return // the parent stopped listening
			}
		}
	}
}

// TestFS_Crash kills a writer in the middle of its Puts, then checks that
// after OpenFS every object is one whole version, at least as new as the last
// one the writer acknowledged. (SIGKILL tests the rename scheme and the
// sidecar checks; it cannot test fsync, which matters for power loss.)
func TestFS_Crash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFS_CrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashRootEnv+"="+root)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	// Read acknowledgements for a second and until there are enough of them
	// to mean something, then kill the writer wherever it is. The pipe still
	// holds what it printed before dying; read that too.
	acked := map[string]int{}
	var other []string
	n, killed, start := 0, false, time.Now()
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		var key string
		var v int
		if _, err := fmt.Sscanf(lines.Text(), "ack %s %d", &key, &v); err != nil {
			other = append(other, lines.Text())
			continue
		}
		acked[key] = v
		n++
		if !killed && n >= 3*len(crashKeys) && time.Since(start) >= time.Second {
			// Kill a random moment later, not just as a Put returns.
			time.AfterFunc(time.Duration(rand.IntN(20_000))*time.Microsecond, func() { cmd.Process.Kill() })
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("the writer stopped by itself after %d acks\nstdout: %s\nstderr: %s", n, strings.Join(other, "\n"), stderr.String())
	}
	t.Logf("killed the writer after %d acknowledged puts: %v", n, acked)

	// Reopen, as the server would after a crash.
	st, err := OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if names := tmpEntries(t, st); len(names) != 0 {
		t.Errorf("tmp/ after OpenFS: %v", names)
	}
	ctx := context.Background()
	for _, key := range crashKeys {
		// Note a sidecar the crash left stale: Get must not believe it.
		if fi, err := os.Stat(st.Path(key)); err == nil {
			if sc, ok := st.readSidecar(key); !ok || !sc.matches(fi) {
				t.Logf("%s: the crash left its sidecar stale or missing", key)
			}
		}
		r, info, err := st.Get(ctx, key)
		if errors.Is(err, errs.NotFound) && acked[key] == 0 {
			continue // never acknowledged, so it may not exist
		}
		if err != nil {
			t.Errorf("Get(%q): %v", key, err)
			continue
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		v, err := checkCrashContent(key, data)
		if err != nil {
			t.Errorf("%s is torn: %v", key, err)
			continue
		}
		if v < acked[key] {
			t.Errorf("%s is version %d, but version %d was acknowledged", key, v, acked[key])
		}
		if info.ETag != sha(string(data)) || info.Size != int64(len(data)) {
			t.Errorf("%s: Info %+v does not describe its %d bytes", key, info, len(data))
		}
	}

	// The listing holds only the writer's keys, each consistent with Stat.
	items, _, err := st.List(ctx, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if !slices.Contains(crashKeys, it.Key) {
			t.Errorf("List shows unexpected key %q", it.Key)
		}
		stat, err := st.Stat(ctx, it.Key)
		if err != nil || stat != it {
			t.Errorf("List item %+v, Stat %+v (%v)", it, stat, err)
		}
	}
}
