#!/bin/bash
# Run on the GPU machine from the repo root: bash gpu_diag.sh MODEL.gguf  (writes to ${OUT:-/tmp/diag})
PY=${PY:-python}; M=$1; D=${OUT:-/tmp/diag}; mkdir -p $D
readelf -d "$(readlink -f $(command -v $PY))" | grep -E 'RPATH|RUNPATH|NEEDED' > $D/python_dyn.txt
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH LD_PRELOAD=$LD_PRELOAD" > $D/env.txt; gcc --version | head -1 >> $D/env.txt
LL=$($PY -c "import importlib.util,os;print(os.path.dirname(importlib.util.find_spec('llama_cpp').origin)+'/lib')")
/lib64/ld-linux-x86-64.so.2 --list $LL/libllama.so > $D/llama_resolution.txt
for f in $LL/*.so; do readelf -V $f | grep -oE '(GLIBCXX|CXXABI|GCC|GOMP)_[0-9.]+' ; done | sort -uV > $D/llama_needed_versions.txt
for o in np llama; do
  [ $o = np ] && C="import numpy, llama_cpp" || C="import llama_cpp, numpy"
  $PY -X faulthandler -c "$C
print(sorted({l.split()[-1] for l in open('/proc/self/maps') if any(k in l for k in ('libstdc++','libgcc_s','libgomp','libcudart','libcublas'))}))
import llama_cpp; llama_cpp.Llama(model_path='$M', n_gpu_layers=-1, verbose=True); print('LOAD OK')" > $D/run_$o.txt 2>&1; echo "rc=$?" >> $D/run_$o.txt
  LD_DEBUG=libs,bindings LD_DEBUG_OUTPUT=$D/ld_$o $PY -c "$C" 2>/dev/null
done
# candidate fix A: LD_PRELOAD the files llama resolves on its own, numpy first
P=$(awk '/libstdc\+\+|libgcc_s|libgomp/{print $3}' $D/llama_resolution.txt | paste -sd:)
LD_PRELOAD=$P $PY -c "import numpy, llama_cpp; llama_cpp.Llama(model_path='$M', n_gpu_layers=-1, verbose=False); print('FIX-A OK')" > $D/fixA.txt 2>&1; echo rc=$? >> $D/fixA.txt
# gdb backtrace of the crash (if gdb exists)
command -v gdb >/dev/null && gdb -batch -ex run -ex bt --args $PY -c "import numpy, llama_cpp; llama_cpp.Llama(model_path='$M', n_gpu_layers=-1)" > $D/gdb_bt.txt 2>&1
