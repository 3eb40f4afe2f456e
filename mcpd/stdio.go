package main

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// drainWait bounds how long mcpd waits, once its input has ended, for the
// answers to the requests it read: the longest call a tool allows.
const drainWait = 10 * time.Minute

// stdioTransport is MCP over r and w, as mcp.StdioTransport is over stdin
// and stdout, except that the end of r is held back until every request
// read from it has been answered on w: a client that pipes its requests in
// and closes its end (mcpd < requests.jsonl) gets every answer, where the
// connection would otherwise close with the calls still running.
func stdioTransport(r io.Reader, w io.Writer, maxLine int) mcp.Transport {
	c := &calls{}
	c.cond = sync.NewCond(&c.mu)
	return &mcp.IOTransport{
		Reader:        io.NopCloser(&requestReader{r: r, calls: c, lines: lines{is: isRequest}}),
		Writer:        nopWriteCloser{&answerWriter{w: w, calls: c, lines: lines{is: isAnswer}}},
		MaxLineLength: maxLine,
	}
}

// calls counts the requests read and the answers written.
type calls struct {
	mu       sync.Mutex
	cond     *sync.Cond
	read     int
	answered int
}

func (c *calls) add(read, answered int) {
	c.mu.Lock()
	c.read += read
	c.answered += answered
	c.mu.Unlock()
	c.cond.Broadcast()
}

// drain waits until every request read has been answered, or for at most
// limit.
func (c *calls) drain(limit time.Duration) {
	timer := time.AfterFunc(limit, func() {
		c.mu.Lock()
		c.answered = c.read // give up waiting
		c.mu.Unlock()
		c.cond.Broadcast()
	})
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.answered < c.read {
		c.cond.Wait()
	}
}

// lines splits a stream into lines as it passes, counting the messages of
// one kind in each.
type lines struct {
	is   func(message) bool
	rest []byte // the unfinished last line
}

// feed takes the next bytes of the stream (ended: the last of it) and
// returns how many messages of the kind the lines it finished hold.
func (l *lines) feed(p []byte, ended bool) int {
	l.rest = append(l.rest, p...)
	parts := bytes.Split(l.rest, []byte("\n"))
	last := parts[len(parts)-1]
	n := 0
	for _, part := range parts[:len(parts)-1] {
		n += count(part, l.is)
	}
	if ended {
		n += count(last, l.is)
		last = nil
	}
	l.rest = append(l.rest[:0], last...)
	return n
}

// requestReader passes r through, counting the requests in it, and holds
// its end back until they are answered.
type requestReader struct {
	r     io.Reader
	calls *calls
	lines lines
}

func (rr *requestReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	rr.calls.add(rr.lines.feed(p[:n], err != nil), 0)
	if err == io.EOF && n == 0 {
		rr.calls.drain(drainWait)
	}
	return n, err
}

// answerWriter passes writes through to w, counting the answers in them.
type answerWriter struct {
	w     io.Writer
	calls *calls
	lines lines
}

func (aw *answerWriter) Write(p []byte) (int, error) {
	n, err := aw.w.Write(p)
	aw.calls.add(0, aw.lines.feed(p[:n], false))
	return n, err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// message holds what tells JSON-RPC messages apart.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

func isRequest(m message) bool { return len(m.ID) > 0 && m.Method != "" }
func isAnswer(m message) bool  { return len(m.ID) > 0 && m.Method == "" }

// count is how many messages of line (one message, or a batch) are of the
// kind is.
func count(line []byte, is func(message) bool) int {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return 0
	}
	if line[0] == '[' {
		var batch []message
		json.Unmarshal(line, &batch)
		n := 0
		for _, m := range batch {
			if is(m) {
				n++
			}
		}
		return n
	}
	var m message
	if json.Unmarshal(line, &m) != nil || !is(m) {
		return 0
	}
	return 1
}
