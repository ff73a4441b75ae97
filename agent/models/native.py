"""Import llama_cpp so that it does not depend on what the app imported first.

Seen on a CUDA build of llama-cpp-python: ``import numpy`` before
``import llama_cpp`` segfaulted at model load (in llama.cpp's tokenizer init),
while the reverse order worked. Apps that embed ponder import numpy first.

What we found (on this CPU machine; the GPU crash itself was not reproducible
here, so the cause is the best-supported one, not a confirmed one):
- llama-cpp-python loads libllama/libggml with ctypes (RTLD_LOCAL), and those
  libraries find their C/C++ runtime (libstdc++.so.6, libgcc_s.so.1,
  libgomp.so.1) by soname. The dynamic loader reuses the FIRST object loaded
  under a soname for everyone.
- numpy's extensions carry DT_RPATH, so glibc also searches the interpreter's
  own RPATH for their dependencies (conda-style Pythons point it at
  ``$PREFIX/lib`` with an older libstdc++); torch ships its own libgomp.so.1.
  We reproduced it with an interpreter given such an RPATH: numpy first, and
  llama.cpp ran against the interpreter's libstdc++/libgcc_s instead of the
  system ones its compiler linked it against; llama first, the system ones.
  A C++ runtime older than the one llama.cpp was built with is a classic cause
  of crashes in std::regex/locale code, which tokenizer init uses.

The guard: before importing llama_cpp, ask the loader which runtime files
libllama resolves on its own (``ld.so --list``, which maps but runs nothing),
and dlopen exactly those files if nothing has loaded that soname yet, so any
later numpy/torch reuses them. If another file is already loaded under the
soname, the C++ runtime (libstdc++/libgcc_s) is a hard error with the fix
(``LD_PRELOAD=...``, or import ponder first) instead of a segfault; a
different libgomp only warns (seen harmless with torch's copy).
``ponder`` the command re-executes itself once with that LD_PRELOAD.
Set ``PONDER_NO_RUNTIME_GUARD=1`` to skip all of this.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

from ...errors import ModelError

RUNTIME_SONAMES = ("libgcc_s.so.1", "libstdc++.so.6", "libgomp.so.1")  # dependency order
STRICT = ("libgcc_s.so.1", "libstdc++.so.6")
_done = False


class LlamaRuntimeMismatch(ModelError, ImportError):
    def __init__(self, message: str, preload: str):
        super().__init__(message)
        self.preload = preload


def llama_lib_dir() -> Path | None:
    override = os.environ.get("LLAMA_CPP_LIB_PATH")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("llama_cpp")  # locates, does not execute
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "lib"


def expected_runtime(lib_dir: Path | None = None) -> dict[str, str]:
    """The file each runtime soname resolves to when libllama is loaded first."""
    lib_dir = lib_dir or llama_lib_dir()
    ld_so = next((p for p in ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1")
                  if os.path.exists(p)), None)
    if lib_dir is None or ld_so is None or not (lib_dir / "libllama.so").exists():
        return {}
    try:
        out = subprocess.run([ld_so, "--list", str(lib_dir / "libllama.so")], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (\S+) \(", line)
        if m and m.group(1) in RUNTIME_SONAMES:
            found[m.group(1)] = os.path.realpath(m.group(2))
    return found


def loaded_runtime() -> dict[str, str]:
    """Runtime libraries already mapped into this process, by soname."""
    found: dict[str, str] = {}
    try:
        with open("/proc/self/maps") as f:
            lines = f.readlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[5].startswith("/"):
            continue
        path = parts[5].strip()
        base = os.path.basename(path)
        for soname in RUNTIME_SONAMES:  # hash-renamed copies (libgomp-abc.so) have other sonames
            if base.startswith(soname.split(".so")[0] + ".so"):
                found.setdefault(soname, os.path.realpath(path))
    return found


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
    except OSError:
        return a == b


def ensure_llama_runtime() -> dict[str, str]:
    """Pin llama.cpp's C/C++ runtime before anything else can, or fail clearly."""
    if not sys.platform.startswith("linux") or os.environ.get("PONDER_NO_RUNTIME_GUARD"):
        return {}
    expected, loaded = expected_runtime(), loaded_runtime()
    strict, soft = [], []
    for soname in RUNTIME_SONAMES:
        path, have = expected.get(soname), loaded.get(soname)
        if path is None:
            continue
        if have is None:
            ctypes.CDLL(path, mode=os.RTLD_LOCAL | os.RTLD_NOW)
        elif not _same_file(have, path):
            (strict if soname in STRICT else soft).append((soname, have, path))
    for soname, have, path in soft:
        warnings.warn(f"llama.cpp will use {have} for {soname} (built against {path})",
                      RuntimeWarning, stacklevel=3)
    if strict:
        preload = ":".join(p for _, _, p in strict)
        detail = "; ".join(f"{s} is {h}, llama.cpp needs {p}" for s, h, p in strict)
        raise LlamaRuntimeMismatch(
            "another extension loaded a different C++ runtime before llama.cpp "
            f"({detail}): import ponder before numpy/torch, or run with LD_PRELOAD={preload}",
            preload)
    return expected


def import_llama_cpp() -> ModuleType:
    """``import llama_cpp``, after making its runtime independent of import order."""
    global _done
    if not _done and "llama_cpp" not in sys.modules:
        ensure_llama_runtime()
    _done = True
    import llama_cpp

    return llama_cpp
