"""Done means verified (issue #15): the guard (the project's checks, run with enforced
timeouts), invariants, review verdicts, the gap registry and checkpoints. Imports model/, repo/,
history/, changes/, guard/; coordination/ (``run``) calls the guard from above.
"""
