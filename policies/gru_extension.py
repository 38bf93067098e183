"""The C++ GRU recurrence (``policies/gru_recurrence.cpp``), built on first use.

:func:`load_recurrence` compiles the file with ``torch.utils.cpp_extension`` (the machine's C++
compiler and ninja; nothing is downloaded) into torch's extension cache (``TORCH_EXTENSIONS_DIR``,
by default ``~/.cache/torch_extensions``) the first time a process asks for it, which takes about
a minute, and loads the cached build afterwards (a fraction of a second; the source's hash decides
whether to rebuild). The gate math uses ATen's SIMD vectors for AVX2 where the CPU has it.

Processes build one at a time under an ``flock`` on the build folder, which the kernel releases
when its holder dies: a build killed midway (a board job past its limits, a ``kill -9``) leaves
torch's own ``lock`` file behind, and the next build removes it instead of waiting on it forever.

Where it cannot be built (no compiler or ninja, another platform) it returns ``None`` after one
warning, and :mod:`policies.gru` runs its PyTorch recurrence, which stays the reference.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import torch as th

SOURCE = Path(__file__).with_name("gru_recurrence.cpp")
SIMD_FLAGS = {
    "avx2": ["-mavx2", "-mfma", "-mf16c", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"],
    "default": ["-DCPU_CAPABILITY=DEFAULT"],
}


def simd_level() -> str:
    """``"avx2"`` where torch runs AVX2 (or AVX-512) kernels on an x86-64 CPU, else ``"default"``."""
    capability = th.backends.cpu.get_cpu_capability()
    return "avx2" if platform.machine() in ("x86_64", "AMD64") and capability in ("AVX2", "AVX512") else "default"


def extension_name(source: Path = SOURCE) -> str:
    """The module name of the build of ``source`` on this CPU."""
    return f"nmn_{source.stem}_{simd_level()}"


def build_folder(source: Path = SOURCE) -> Path:
    """The folder of the build of ``source``: one per extension and Python version, under
    ``TORCH_EXTENSIONS_DIR`` or torch's default extension cache."""
    from torch.utils import cpp_extension

    root = os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root()
    return Path(root) / f"{extension_name(source)}_py{sys.version_info.major}{sys.version_info.minor}"


@contextlib.contextmanager
def _only_builder(folder: Path) -> Iterator[None]:
    """Hold the build folder's ``flock`` and clear the ``lock`` file of a build that died holding
    it: no live process builds without the ``flock``. (Platforms without ``fcntl`` build unguarded.)"""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(folder / "build.flock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        (folder / "lock").unlink(missing_ok=True)
        yield


def build_recurrence(source: Path = SOURCE) -> ModuleType | None:
    """Build (or load the cached build of) the C++ recurrence in ``source``; ``None``, after a
    warning that says why, where it cannot be built."""
    try:
        from torch.utils import cpp_extension

        folder = build_folder(source)
        folder.mkdir(parents=True, exist_ok=True)
        with _only_builder(folder):
            return cpp_extension.load(
                name=extension_name(source),
                sources=[str(source)],
                extra_cflags=["-O3", *SIMD_FLAGS[simd_level()]],
                build_directory=str(folder),
                verbose=False,
            )
    except (OSError, RuntimeError, ImportError, SystemExit) as error:
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        warnings.warn(
            f"the C++ GRU recurrence could not be built ({type(error).__name__}: {reason}); "
            "using the PyTorch recurrence of policies.gru",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


@functools.cache
def load_recurrence() -> ModuleType | None:
    """The compiled recurrence (``forward`` and ``backward``), built once per process; ``None``
    where it cannot be built."""
    return build_recurrence()
