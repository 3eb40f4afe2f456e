package ingest

// WaitCompactions waits until no background compaction is queued or running.
// No ingest may start meanwhile.
func (in *Ingester) WaitCompactions() { in.compactor.wg.Wait() }
