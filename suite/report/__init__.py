"""The report: one self-contained HTML page, a JSON summary and CSV tables from a results folder.

Rendering reads finished records only; it never runs a cell. The entry points live in
:mod:`suite.report.render` (``render_report``, ``claims_table``); this package imports nothing
heavy, so the CLI can check a folder before loading torch, pandas and matplotlib.
"""
