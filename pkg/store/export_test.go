package store

// SetPublishBuffers makes publishes hand on ordered rows every flush bytes and spill sorted runs of
// spill bytes, until the returned function restores the defaults: small buffers make a small
// publish take the paths of a large one.
func SetPublishBuffers(flush, spill int) (restore func()) {
	oldFlush, oldSpill := orderedFlushBytes, spillBytes
	orderedFlushBytes, spillBytes = flush, spill
	return func() { orderedFlushBytes, spillBytes = oldFlush, oldSpill }
}

// SetFlushEventRows makes FlushDeliveryEvents move at most n events per transaction, until the
// returned function restores the default.
func SetFlushEventRows(n int) (restore func()) {
	old := flushEventRows
	flushEventRows = n
	return func() { flushEventRows = old }
}
