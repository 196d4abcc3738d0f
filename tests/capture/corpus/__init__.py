"""A corpus of real public notebooks, run cell by cell in a kernel and again as captured jobs.

``notebooks/`` holds the notebooks (code cells, percent format) and ``SOURCES.md`` where each
came from and under which licence (the licence texts are in ``licenses/``). :mod:`.measure`
runs them and reports the fraction of printing cells that print the same in the job.
"""
