"""The deployment's tasks as reconcile steps: plain functions over the spec and the hooks.

A step either finishes (returns its JSON result) or asks to wait (`Wait`): the operator defers to
the triggerer with the wait's probe and, when it is done, calls the continuation the wait names.
Every step converges when run again: it adopts what exists and matches, and refuses, with a
message, what exists and does not.
"""
