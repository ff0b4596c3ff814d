"""Incidents: a charter's playbook run step by step, with its clocks, holds and notifications."""
