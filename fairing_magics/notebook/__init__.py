"""Notebook jobs: a whole notebook runs as a job (``%fairing_notebook``, ``fairing-magics submit``)
or on a schedule (a Kubernetes CronJob), through the same capture, build and submit path as a cell.

- :mod:`.source`: read and check the notebook, inject ``-p`` parameters as papermill does;
- :mod:`.capture`: the bundle that runs it whole (``runtime/notebook.py`` executes it in the job);
- :mod:`.flags`: its flags, the train flags plus ``NOTEBOOK``, ``-p`` and ``--schedule``;
- :mod:`.job`: submit it once or on a schedule, and bring the executed notebook back.
"""
