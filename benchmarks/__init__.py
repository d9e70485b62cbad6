"""Benchmarks of asyncbatch against its peers on the bundled HubSpot emulator.

Run ``python -m benchmarks`` (or ``make bench``); see ``benchmarks/README.md``. Never part of
the test suite: nothing here is imported by ``asyncbatch`` or by ``tests``.
"""
