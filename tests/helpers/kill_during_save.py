"""Run a script with numpy.savez SIGKILLing the process halfway through its Nth file (crash tests).

    python tests/helpers/kill_during_save.py N script.py [args ...]
"""

import io
import os
import runpy
import signal
import sys

import numpy as np

nth, script = int(sys.argv[1]), sys.argv[2]
real_savez, calls = np.savez, []


def savez(file, *args, **kwargs):
    calls.append(file)
    if len(calls) < nth:
        return real_savez(file, *args, **kwargs)
    buffer = io.BytesIO()
    real_savez(buffer, *args, **kwargs)
    file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    file.flush()
    os.kill(os.getpid(), signal.SIGKILL)


np.savez = savez
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
