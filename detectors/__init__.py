"""Detection: frames and timestamps in, detections and incidents out. No I/O, no global state."""
