"""Imports of other implementations' checkpoints: pure maps from their state dicts to our networks'.

``tcn_reference``: the original authors' word models (Lipreading_using_TCN's model zoo). The command
that writes our checkpoint from them lives in the workflow layer (``lipreading.run``).
"""
