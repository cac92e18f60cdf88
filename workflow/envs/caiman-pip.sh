#!/usr/bin/env bash
# CaImAn 1.12.1 built with pip only, in its own virtual environment, with this package and Snakemake beside it
# (docs/engines.md: the engine `caiman` without conda). Tested with Python 3.11 on Debian.
#
#   workflow/envs/caiman-pip.sh CAIMAN_SOURCE VENV
#
# CAIMAN_SOURCE: a copy of CaImAn's source at tag v1.12.1 (large example movies and model files may be absent:
# empty placeholders are made for the ones its setup.py lists). VENV: the environment to create. Then run the
# workflow from it: `make VENV=VENV test-configs`, or `VENV/bin/snakemake ...` without --sdm conda.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 CAIMAN_SOURCE VENV" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
venv=$2
here=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3.11}
if ! grep -qx '1.12.1' "$src/VERSION" 2>/dev/null; then
    echo "$src/VERSION does not say 1.12.1: give a copy of CaImAn's source at tag v1.12.1" >&2
    exit 1
fi
# setup.py lists these as data files; a source copy without the large files builds with empty placeholders
for f in example_movies/data_endoscope.tif example_movies/demoMovie.tif example_movies/avg_mask_fixed.png \
    testdata/groundtruth.npz testdata/example.npz testdata/2d_sbx.mat testdata/2d_sbx.sbx testdata/2d_sbx_bidi.mat \
    testdata/2d_sbx_bidi.sbx testdata/3d_sbx_1.mat testdata/3d_sbx_1.sbx testdata/3d_sbx_2.mat testdata/3d_sbx_2.sbx; do
    [ -e "$src/$f" ] || { mkdir -p "$(dirname "$src/$f")"; : > "$src/$f"; }
done
"$python" -m venv "$venv"
pins=("numpy>=1.26,<2" "scipy>=1.10.1,<1.14")  # CaImAn 1.12 is compiled against numpy 1.x
"$venv/bin/pip" install "${pins[@]}" cython setuptools wheel scikit-image scikit-learn opencv-python-headless h5py \
    tifffile peakutils psutil tqdm pims av zarr ipyparallel pynwb matplotlib ipywidgets certifi bokeh holoviews
(cd "$src" && "$venv/bin/pip" install --no-deps --no-build-isolation .)
# caiman.utils imports TensorFlow at load time, though only the CNN classifiers (use_cnn, never used here) need it;
# the real TensorFlow would bring numpy 2 and break CaImAn's compiled modules: a stub package stands in for it
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$site/tensorflow"
cat > "$site/tensorflow/__init__.py" <<'EOF'
"""Stand-in for TensorFlow (ace-neuro's CaImAn environment): CaImAn imports it at load time, only its CNN uses it.

Every attribute and submodule is a placeholder; ``is_tensor`` is False. use_cnn must stay false.
"""
import importlib.abc
import importlib.machinery
import sys
import types


class _Placeholder:
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Placeholder()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder


def is_tensor(value):
    return False


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Placeholder


class _Submodules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.startswith("tensorflow."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = __getattr__
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Submodules())
EOF
"$venv/bin/pip" install "${pins[@]}" -e "$here[workflow,test]"
cd / && "$venv/bin/python" -c "import caiman, numpy; from caiman.source_extraction.cnmf import cnmf; \
print('CaImAn', caiman.__version__, 'numpy', numpy.__version__)"
