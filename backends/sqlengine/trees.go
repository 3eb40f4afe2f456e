package sqlengine

import (
	"container/list"
	"sync"
)

// trees remembers the syntax trees serialize got for the latest queries.
// DuckDB's parser gives the same tree for the same text on every
// connection (the settings it could depend on are locked), and asking it
// costs more than running a small query: about 280 µs of the 1 ms a
// SELECT 42 took through query_sql. Scripts and dashboards repeat their
// queries; agents less so.
var trees = treeCache{max: 128, maxEntry: 32 << 10}

// A treeCache holds up to max entries of at most maxEntry bytes (query and
// tree together), dropping the least recently used.
type treeCache struct {
	max, maxEntry int

	mu    sync.Mutex
	order list.List // of *treeEntry, most recent first
	byKey map[string]*list.Element
}

type treeEntry struct{ query, tree, parseErr string }

// get returns what serialize returned for query, if it is remembered.
func (c *treeCache) get(query string) (tree, parseErr string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[query]
	if !ok {
		return "", "", false
	}
	c.order.MoveToFront(e)
	t := e.Value.(*treeEntry)
	return t.tree, t.parseErr, true
}

// put remembers what serialize returned for query.
func (c *treeCache) put(query, tree, parseErr string) {
	if len(query)+len(tree)+len(parseErr) > c.maxEntry {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[string]*list.Element{}
	}
	if _, ok := c.byKey[query]; ok {
		return
	}
	c.byKey[query] = c.order.PushFront(&treeEntry{query, tree, parseErr})
	if c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*treeEntry).query)
	}
}
