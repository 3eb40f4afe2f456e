package ingest

import "context"

// WaitCompactions waits until no background compaction is queued or running.
// No ingest may start meanwhile.
func (in *Ingester) WaitCompactions() { in.compactor.wg.Wait() }

// Publish is publish, for tests.
func (in *Ingester) Publish(ctx context.Context, key, out string, commit func(context.Context, int64) error) error {
	return in.publish(ctx, key, out, commit)
}
