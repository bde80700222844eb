"""Memory a model step freed goes back to the system when the step ends (lib/memory.py)."""

import subprocess
import sys

import pytest

from augment_assets.lib.memory import _malloc_trim, release_freed_memory, resident_gb

# Freed small blocks stay in glibc's heap: a 16 MB block freed first raises glibc's mmap threshold, so the 1 MB
# blocks after it come from the heap, as a model step's tensors do. All but the last are freed; the heap keeps them.
# The blocks are written (b"\1" * n), so their pages are resident.
HEAP_LEFTOVERS = """
import sys
from augment_assets.lib.memory import release_freed_memory, resident_gb
big = b"\1" * (16 << 20); del big
blocks = [b"\1" * (1 << 20) for _ in range(400)]
keep = blocks[-1]
del blocks
kept = resident_gb()
result = release_freed_memory()
print(kept, *(result or (None, None)))
"""


@pytest.mark.skipif(_malloc_trim() is None, reason="this C library has no malloc_trim (not glibc)")
def test_the_heap_that_a_step_freed_goes_back_to_the_system():
    done = subprocess.run([sys.executable, "-c", HEAP_LEFTOVERS], capture_output=True, text=True, check=True)
    kept, before, after = (float(x) for x in done.stdout.split())
    assert before >= kept - 0.05 and before > 0.35  # the 400 MB of freed blocks were still resident
    assert after < before - 0.3  # and were given back


def test_resident_memory_is_read_and_release_reports_it_or_none():
    assert resident_gb() is None or resident_gb() > 0
    result = release_freed_memory()
    assert result is None or (len(result) == 2 and all(r > 0 for r in result))
