// Package crashtest kills a writing process with SIGKILL, with no chance to
// clean up, and tells the test every write that process acknowledged, so the
// test can check that none of them was lost.
//
// A crash test calls Writer first and Kill after:
//
//	func TestCrash(t *testing.T) {
//		if crashtest.Writer(write) {
//			return
//		}
//		dir := t.TempDir()
//		acked := crashtest.Kill(t, dir, time.Second)
//		// reopen dir and look for every id in acked
//	}
package crashtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dirEnv tells the test binary, started again by Kill, to be the writer,
// and where to write.
const dirEnv = "LAKEHOUSE_CRASHTEST_DIR"

// Writer reports whether this process is the writer that Kill started. If
// it is, it runs write with the data directory and an ack function that
// write must call (from any goroutine) with the ids of each write once it
// has returned; write should go on until the process is killed.
func Writer(write func(dir string, ack func(ids ...string))) bool {
	dir := os.Getenv(dirEnv)
	if dir == "" {
		return false
	}
	var mu sync.Mutex
	write(dir, func(ids ...string) {
		var b strings.Builder
		for _, id := range ids {
			b.WriteString("ack " + id + "\n")
		}
		mu.Lock()
		defer mu.Unlock()
		os.Stdout.WriteString(b.String())
	})
	return true
}

// Fail ends the writer with a message, which the test shows.
func Fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// Kill runs the calling test again in a child process as the writer on dir,
// lets it write for the given time after its first acknowledgement, kills
// it and returns the ids it acknowledged, in order. It skips the test in
// -short mode.
func Kill(t *testing.T, dir string, after time.Duration) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), dirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		acked []string
		first = make(chan struct{})
		eof   = make(chan struct{})
	)
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				acked = append(acked, id)
				if len(acked) == 1 {
					close(first)
				}
			}
		}
	}()
	select {
	case <-first:
	case <-eof:
		cmd.Wait()
		t.Fatalf("the writer exited (%v) before acknowledging anything", cmd.ProcessState)
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("the writer acknowledged nothing within a minute")
	}
	time.Sleep(after)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-eof // every ack printed before the kill is still in the pipe
	cmd.Wait()
	if len(acked) == 0 {
		t.Fatal("no acknowledgements")
	}
	return acked
}
