"""Invoke task modules, one per runbook section. Each task: parse, load, call the library, render.

Only `invoke` is imported at module level here, so `inv --list` stays fast.
"""
