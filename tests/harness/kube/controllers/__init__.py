"""Controllers of the emulated cluster. Each has ``reconcile()``, called after every change
and a few times a second (for deadlines and TTLs), and works from a full scan of the store:
simple, and fast enough for the tens of objects a test makes.
"""

from __future__ import annotations

from .cronjobs import CronJobController
from .deployments import DeploymentController
from .housekeeping import GarbageCollector, NamespaceController
from .jobs import JobController
from .katib import KatibController
from .scheduler import Scheduler
from .serving import InferenceServiceController, ServiceController
from .training import TrainingJobController
from .trainjobs import TrainJobController


def build_controllers(emu) -> list:
    controllers = [NamespaceController(emu), GarbageCollector(emu), Scheduler(emu),
                   CronJobController(emu), JobController(emu), TrainingJobController(emu),
                   KatibController(emu), TrainJobController(emu),
                   DeploymentController(emu),
                   InferenceServiceController(emu), ServiceController(emu)]
    if emu.kubelet is not None:
        controllers.append(emu.kubelet)
    return controllers
