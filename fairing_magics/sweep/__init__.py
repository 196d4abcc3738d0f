"""Hyperparameter sweeps: ``%%fairing_sweep`` runs one captured cell many times, each trial with
other parameters, locally (Optuna, subprocesses) or as a Katib Experiment on Kubernetes.

- :mod:`.space`: ``--param NAME=DIST:ARGS`` -> :class:`~.space.SearchSpace` (pure);
- :mod:`.options`: the sweep's flags and every refusal that needs no cluster (pure);
- :mod:`.observe`: a trial's metrics, read as Katib's StdOut collector reads them;
- :mod:`.trial`: a trial as a value, and its event; :mod:`.sweep`: the :class:`~.sweep.Sweep`;
- :mod:`.local`: the local driver (Optuna's ask-and-tell); :mod:`.katib`: the Experiment
  (pure); :mod:`.cluster`: the Katib driver; :mod:`.launch`: start and dry run.

Import the modules themselves: this package imports nothing (the panel imports :mod:`.trial`).
"""
