"""Read models built from the event log (state at a moment, timeline, register, …)."""
