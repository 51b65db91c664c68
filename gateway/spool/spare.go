package spool

// Spare reports whether the spool is at most half full (of what it takes
// before Full) and its disk works. Records that may be dropped (the
// gateway's records of refused requests) are appended only then, so that
// they can never take the room answered requests need: a full spool
// refuses every request, and the records a failing disk holds in memory
// are for answers already under way.
func (s *Spool) Spare() bool {
	return !s.failing.Load() && s.diskBytes.Load() < (s.opts.MaxBytes-fullHeadroom)/2
}
