"""Benchmarks: ``make bench`` prints figures side by side; nothing here asserts a speed."""
