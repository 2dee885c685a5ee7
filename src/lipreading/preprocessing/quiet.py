"""Keep the log lines that MediaPipe's and LiteRT's C++ code writes to stderr out of the terminal.

Those libraries write to file descriptor 2 directly (``landmark_projection_calculator.cc ...``,
``inference_feedback_manager ...``, ``INFO: Created TensorFlow Lite XNNPACK delegate``), past
Python's ``sys.stderr``, so only redirecting the descriptor hides them. The redirection wraps each
native call alone, never our own code: our log lines and error messages always reach the terminal,
and when a wrapped call raises, what it wrote is replayed before the error goes on.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr(show: bool = False) -> Iterator[None]:
    """Capture what native code writes to fd 2 inside the block (``show=True``: let it through)."""
    if show:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
