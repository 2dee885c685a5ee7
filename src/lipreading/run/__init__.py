"""The workflow layer: checkpoints, building a run's objects, train / evaluate / infer / export, staged runs.

It sits above ``tasks/``, ``data/``, ``preprocessing/`` and ``reports/`` and below the entry points
(``train.py``, ``eval.py``, ``infer.py``, ``export.py``):

- :mod:`~lipreading.run.checkpoint`: reading and writing checkpoints (a leaf: it imports no other workflow module);
- :mod:`~lipreading.run.build`: the run's objects from a config (datamodule, network, task, trainer), a task
  restored from a checkpoint, ``init_from`` initialisation;
- :mod:`~lipreading.run.train`, :mod:`~lipreading.run.stages`: one training run, runs that follow one another;
- :mod:`~lipreading.run.evaluate`, :mod:`~lipreading.run.infer`, :mod:`~lipreading.run.export`: what the
  entry points call; :mod:`~lipreading.run.kinds` maps a checkpoint's kind to its functions, which live in
  :mod:`~lipreading.run.words`, :mod:`~lipreading.run.sentences` and :mod:`~lipreading.run.separation`.
"""
