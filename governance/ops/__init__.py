"""Running Accord: the start page, health, worker heartbeats and the demo."""
