"""The usage roll-up: decisions counted per minute, hour and day from the trail, and what reads the counts."""
