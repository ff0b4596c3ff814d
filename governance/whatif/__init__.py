"""What-if replays: recorded decisions replayed against a candidate charter version or grant."""
