"""retain: churn risk and next-best-action for retail banks.

``retain.core`` is the contract the other packages stand on; ``retain.cli`` is the entrance on top.
"""
