"""llama_cpp loads the same way whatever the app imported first."""
import shutil
import subprocess
import sys

import pytest

from ponder.agent.models import native

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux loader")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("first", ["numpy", "torch", "ponder"])
def test_model_loads_and_runtime_is_pinned_whatever_was_imported_first(first):
    code = f"""
import {first}
from ponder.agent.models import load_model, native
model = load_model("default", n_ctx=256)
out = model.complete([{{"role": "user", "content": "Say hi"}}], max_tokens=4)
expected, loaded = native.expected_runtime(), native.loaded_runtime()
for soname in native.STRICT:
    assert native._same_file(expected[soname], loaded[soname]), (soname, expected, loaded)
print("ok", out.usage.completion_tokens)
"""
    res = _run(code)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[0] == "ok"


def test_expected_runtime_names_llamas_cxx_runtime():
    expected = native.expected_runtime()
    assert set(native.STRICT) <= set(expected)
    assert all(path.startswith("/") for path in expected.values())


def test_a_foreign_cxx_runtime_is_a_clear_error_not_a_segfault(tmp_path, monkeypatch):
    """Simulate an interpreter whose RPATH gave numpy another libstdc++ first."""
    real = native.expected_runtime()["libstdc++.so.6"]
    other = tmp_path / "libstdc++.so.6"
    shutil.copy(real, other)
    monkeypatch.setattr(native, "expected_runtime", lambda: {"libstdc++.so.6": str(other)})
    monkeypatch.setattr(native, "loaded_runtime", lambda: {"libstdc++.so.6": real})
    with pytest.raises(native.LlamaRuntimeMismatch) as info:
        native.ensure_llama_runtime()
    assert f"LD_PRELOAD={other}" in str(info.value)
    assert info.value.preload == str(other)


def test_guard_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("PONDER_NO_RUNTIME_GUARD", "1")
    monkeypatch.setattr(native, "expected_runtime", lambda: pytest.fail("guard ran"))
    assert native.ensure_llama_runtime() == {}
