"""The upload door: every file a visitor sends is checked here before any model sees it.

limits.py holds every limit; structure.py walks a file's structure in the server without decoding a pixel;
sandbox.py runs the readers (readers.py) in a throwaway worker process capped in memory and time; resize.py turns
each decoded frame into the model's 64x64 grey; clips.py is the door itself (admit, prepare, read_clip).
Torch-free by rule: the sandboxed worker imports these modules, and every megabyte it maps counts against
its cap (tests/test_package.py checks that importing them loads no torch).
"""
