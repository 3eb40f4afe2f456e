package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// perfSides records, with Linux perf, the real server processes of the
// sides named in -perf-sides while each serves -perf-calls more calls,
// and prints each one's top symbols by self time (leaf: where the CPU is
// spent, C++ and kernel included) and by time with children (Go frames
// carry frame pointers; DuckDB's C++ may not, so its callers are
// undercounted there). It shows what the go test profile of profile.go
// cannot: the real processes with their transports (pipes, HTTP), the
// kernel's share of their time, and DuckDB's own functions.
func perfSides(ctx context.Context, sides []*side) error {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return fmt.Errorf("no perf on PATH (apt-get install linux-perf)")
	}
	if err := os.MkdirAll(*perfDir, 0o755); err != nil {
		return err
	}
	for _, s := range sides {
		if !strings.Contains(","+*perfSidesFlag+",", ","+s.name+",") {
			continue
		}
		data := filepath.Join(*perfDir, s.name+".perf.data")
		rec := exec.Command(perf, "record", "-q", "-F", "1999", "-g", "-p", fmt.Sprint(s.pid), "-o", data)
		rec.Stdout, rec.Stderr = os.Stderr, os.Stderr
		if err := rec.Start(); err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond) // perf attaches
		s.lat = s.lat[:0]
		cpu0, t0 := procCPU(s.pid), time.Now()
		for range *perfCalls {
			s.call(ctx)
		}
		wall, cpu := time.Since(t0), procCPU(s.pid)-cpu0
		rec.Process.Signal(syscall.SIGINT)
		rec.Wait() // perf ends on SIGINT, by the signal
		if _, err := os.Stat(data); err != nil {
			return fmt.Errorf("perf record wrote nothing: %w", err)
		}
		fmt.Printf("\n## perf of %s (pid %d): %d calls, %.0f µs wall and %.0f µs server CPU per call; %s\n", s.name, s.pid, *perfCalls,
			us(wall)/float64(*perfCalls), us(cpu)/float64(*perfCalls), data)
		for _, view := range []struct {
			title string
			args  []string
		}{
			{"self time by shared object", []string{"--no-children", "--sort", "dso"}},
			{"self time by symbol", []string{"--no-children", "--sort", "symbol"}},
			{"time with children by symbol", []string{"--children", "--sort", "symbol"}},
		} {
			args := append([]string{"report", "-i", data, "--stdio", "-g", "none", "--percent-limit", "1.5"}, view.args...)
			out, err := exec.Command(perf, args...).Output()
			if err != nil {
				return fmt.Errorf("perf report: %w", err)
			}
			fmt.Printf("\n%s:\n```\n%s```\n", view.title, trimReport(out, 30))
		}
	}
	return nil
}

// trimReport keeps the first n lines of a perf report that are not
// comments or blank.
func trimReport(out []byte, n int) string {
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		if n == 0 {
			break
		}
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if len(l) > 160 {
			l = l[:160]
		}
		b.WriteString(l + "\n")
		n--
	}
	return b.String()
}
