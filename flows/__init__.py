"""careloop's clinical logic, pure Python.

The protocol model and its loader (flows.protocol, flows.loader), the check-in
engine (flows.engine), the planner (flows.planner) and exercise selection
(flows.exercises). Imports nothing else of the project, does no I/O except
reading a protocol file, and never reads the clock: callers pass `now`.
"""
