"""Batch grading on top of nbgrader: workspace, engine, intake, reports."""
