"""The upload door: every file a visitor sends is checked here before any model sees it.

limits.py holds every limit; clips.py is the door itself (the cheap checks in the server, then read_clip);
sandbox.py runs the structure checks (structure.py, which walks a file without decoding a pixel) and the readers
(readers.py) in a throwaway worker process capped in memory and time, a bounded number at once; resize.py turns
each decoded frame into the model's 64x64 grey; fix.py is the input fix for clips unlike the training data.
Torch-free by rule: the sandboxed worker imports these modules, and every megabyte it maps counts against
its cap (tests/test_package.py checks that importing them loads no torch).
"""
