"""Analysis code used by the component notebooks (statistics, charts, sentiment, ...).

Import the submodules directly (`from workbench.analysis.stats import basic_stats`); this package imports
nothing itself, so loading one analysis does not pull in the dependencies of the others.
"""
