"""Loading pickled models without letting them run code.

A pickle is a small program: every global it names is imported and may be called. We defend in three layers:

1. a size and format sniff (plain pickle protocol 2+ or a joblib file, compressed or not);
2. picklescan on the decompressed stream (it misses compressed joblib files when run on the raw file, and stops at
   the first raw numpy buffer of a joblib file, so it is a first filter, never the verdict);
3. an allow-list unpickler, joblib's own `NumpyUnpickler` with `find_class` restricted, which sees every global the
   file names, including those after numpy arrays and inside compressed files. This is the authoritative gate.

Allowed are classes (types) of scikit-learn, numpy, scipy and pandas outside their I/O and testing modules, the
booster classes of XGBoost, LightGBM and CatBoost, and a short list of named reconstructor functions those
libraries' pickles need. Everything else (`os.system`, `builtins.eval`, `getattr`, `numpy.load`, `pandas.read_csv`...)
is refused with a message that names it. Loading still belongs in the sandbox: an allow-list is not a proof.
"""

from __future__ import annotations

import io
import os
import pickle
import types
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
from joblib import numpy_pickle
from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

from stresstests.engine.errors import ModelLoadError

MAX_PICKLE_BYTES = 2 * 1024**3
CHUNK_BYTES = 1024**2  # the scan holds at most this much decompressed data beyond what picklescan keeps

SAFE_FORMAT_ADVICE = (
    "Save the model in a format that cannot run code instead: skops (`skops.io.dump(model, 'model.skops')`), "
    "ONNX, or the library's native file (XGBoost .json/.ubj, LightGBM .txt, CatBoost .cbm)."
)

# Classes from these packages may be instantiated, unless their module or name is denied below.
CLASS_PACKAGES = ("sklearn", "numpy", "scipy", "pandas")

# Module path parts that hold file/network readers, test helpers (any part containing "test"), native-pointer
# wrappers or code generators.
DENIED_MODULE_PARTS = frozenset({
    "io", "datasets", "_datasource", "npyio", "_npyio_impl", "_iotools", "format", "_format_impl", "parsers",
    "writers", "memmap", "ctypeslib", "_ctypeslib", "_internal", "f2py", "distutils", "_distutils", "computation",
    "clipboard", "_config", "config_init", "plotting", "_plot", "_export", "_lib", "_build_utils", "__check_build",
    "_show_versions", "externals", "parallel", "_joblib", "_utils_impl", "typing", "_typing", "errors", "odr",
})

# Classes whose constructor opens files, maps memory or wraps native function pointers.
DENIED_CLASS_NAMES = frozenset({
    "memmap", "DataSource", "NpzFile", "HDFStore", "ExcelWriter", "ExcelFile", "LowLevelCallable", "vectorize",
    "DMatrix", "QuantileDMatrix", "DataIter", "Dataset", "Pool",
})

# Bases a permitted class may inherit from besides the class packages themselves.
BASE_MODULES = frozenset({
    "builtins", "abc", "_abc", "collections", "collections.abc", "_collections_abc", "typing", "numbers", "enum",
    "dataclasses", "pyarrow.lib",
})

BOOSTER_PACKAGES = ("xgboost", "lightgbm", "catboost")
BOOSTER_CLASSES = frozenset({
    "xgboost.sklearn.XGBModel", "xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor",
    "xgboost.sklearn.XGBRanker", "xgboost.sklearn.XGBRFClassifier", "xgboost.sklearn.XGBRFRegressor",
    "xgboost.core.Booster",
    "lightgbm.sklearn.LGBMModel", "lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMRanker", "lightgbm.basic.Booster",
    "catboost.core.CatBoost", "catboost.core.CatBoostClassifier", "catboost.core.CatBoostRegressor",
    "catboost.core.CatBoostRanker",
})

# Exact `module.name` globals (as written in the file) that common model pickles need.
NAMED_GLOBALS = frozenset({
    "builtins.object", "builtins.set", "builtins.frozenset", "builtins.slice", "builtins.complex",
    "builtins.bytearray", "builtins.bytes", "builtins.dict", "builtins.list", "builtins.tuple", "builtins.int",
    "builtins.float", "builtins.str", "builtins.bool", "builtins.range",
    "__builtin__.object", "__builtin__.set", "__builtin__.frozenset", "__builtin__.slice", "__builtin__.complex",
    "__builtin__.bytearray",
    "copyreg._reconstructor", "copy_reg._reconstructor", "_codecs.encode",
    "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter",
    "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta", "datetime.timezone",
    "decimal.Decimal",
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
    "numpy.ma.core._mareconstruct",
    "numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
    "pandas.core.indexes.base._new_Index", "pandas._libs.internals._unpickle_block",
    "pandas._libs.tslibs.timestamps._unpickle_timestamp", "pandas._libs.tslibs.timedeltas._timedelta_unpickle",
    "pandas._libs.tslibs.nattype.__nat_unpickle",
    "pyarrow.lib._restore_array", "pyarrow.lib.py_buffer", "pyarrow.lib.type_for_alias",
    "sklearn.metrics._dist_metrics.newObj", "sklearn.neighbors._kd_tree.newObj",
    "sklearn.neighbors._ball_tree.newObj",
    "sklearn.preprocessing._function_transformer._identity",
})

# Cython's generated unpicklers only call `cls.__new__` on a class that itself went through `find_class`.
CYTHON_UNPICKLER_PREFIX = "__pyx_unpickle_"


class RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, qualified_name: str) -> None:
        super().__init__(qualified_name)
        self.qualified_name = qualified_name


def _in_packages(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def _module_is_denied(module: str) -> bool:
    return any(part in DENIED_MODULE_PARTS or "test" in part for part in module.split("."))


def _class_is_allowed(obj: type) -> bool:
    if obj.__name__ in DENIED_CLASS_NAMES or _module_is_denied(obj.__module__):
        return False
    if not _in_packages(obj.__module__, CLASS_PACKAGES):
        return False
    # A subclass of a file, thread or process class would bring its side effects along.
    return all(_in_packages(base.__module__, CLASS_PACKAGES) or base.__module__ in BASE_MODULES
               for base in obj.__mro__)


def _qualified(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"


def global_is_allowed(module: str, name: str, obj: Any) -> bool:
    """Whether the global `module.name`, already resolved to `obj`, may be used by a model pickle."""
    if f"{module}.{name}" in NAMED_GLOBALS:
        return True
    if isinstance(obj, type) and _qualified(obj) in BOOSTER_CLASSES:
        return True
    if not _in_packages(module, CLASS_PACKAGES) or _module_is_denied(module):
        return False
    if isinstance(obj, np.ufunc):  # pure elementwise maths, e.g. FunctionTransformer(np.log1p)
        return True
    if name.startswith(CYTHON_UNPICKLER_PREFIX) and callable(obj):
        return _in_packages(getattr(obj, "__module__", "") or "", CLASS_PACKAGES)
    return isinstance(obj, type) and _class_is_allowed(obj)


def _may_import(module: str, name: str) -> bool:
    """Cheap check before importing: importing a module runs its code, so only known packages get that far."""
    if "." in name:  # dotted names walk attributes, e.g. "numpy.ctypeslib" + "ctypes.CDLL"
        return False
    if f"{module}.{name}" in NAMED_GLOBALS:
        return True
    return _in_packages(module, CLASS_PACKAGES + BOOSTER_PACKAGES) and not _module_is_denied(module)


class RestrictedUnpickler(numpy_pickle.NumpyUnpickler):
    """joblib's unpickler (plain pickles and joblib files alike) that resolves only allow-listed globals.

    With `record_refusals=True` it never raises for a refused global: it substitutes an inert stand-in and notes the
    name, which lets `scan_pickle` list every offending global in one pass without running any of them.
    """

    dispatch = numpy_pickle.NumpyUnpickler.dispatch.copy()

    def __init__(self, filename: str, file_handle: IO[bytes], *, record_refusals: bool = False) -> None:
        super().__init__(filename, file_handle, ensure_native_byte_order=True, mmap_mode=None)
        self.record_refusals = record_refusals
        self.refused: list[str] = []

    def find_class(self, module: str, name: str) -> Any:
        qualified_name = f"{module}.{name}"
        if _may_import(module, name):
            try:
                obj = super().find_class(module, name)
            except (ImportError, AttributeError):
                if self.record_refusals:  # missing here is not dangerous; load_pickle will explain it
                    return _InertStandIn
                raise _unavailable(Path(self.filename), qualified_name) from None
            if global_is_allowed(module, name, obj):
                return obj
        if not self.record_refusals:
            raise RefusedGlobal(qualified_name)
        if qualified_name not in self.refused:
            self.refused.append(qualified_name)
        return _InertStandIn

    def load_build(self) -> None:
        # BUILD on a class or module would overwrite its attributes (monkey-patching the loader's own libraries).
        target = self.stack[-2]
        if isinstance(target, (type, types.ModuleType)):
            raise ModelLoadError(
                f"{Path(self.filename).name} was refused: it tries to change the class {_qualified(target)} while "
                "loading. " + SAFE_FORMAT_ADVICE)
        numpy_pickle.NumpyUnpickler.load_build(self)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not supported")

    dispatch[pickle.BUILD[0]] = load_build


class _InertStandIn:
    """Takes the place of a refused global during a scan; accepts any arguments and does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


@contextmanager
def _pickle_stream(path: Path) -> Iterator[IO[bytes]]:
    """The decompressed pickle stream of a plain pickle or a joblib file (any of joblib's compressors)."""
    with open(path, "rb") as raw, _validate_fileobject_and_memmap(raw, str(path), None) as (stream, _):
        if isinstance(stream, str):
            raise ModelLoadError(
                f"{path.name} was written by joblib older than 0.10, a format that cannot be loaded safely. "
                + SAFE_FORMAT_ADVICE)
        yield stream


def _check_size_and_format(path: Path, max_bytes: int) -> None:
    if not path.is_file():
        raise ModelLoadError(f"The model file {path.name} does not exist.")
    size = path.stat().st_size
    if size == 0:
        raise ModelLoadError(f"The model file {path.name} is empty.")
    if size > max_bytes:
        raise ModelLoadError(
            f"The model file {path.name} is {size / 1024**2:.0f} MB, above the {max_bytes / 1024**2:.0f} MB limit "
            "for pickles. " + SAFE_FORMAT_ADVICE)
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK"):
        raise ModelLoadError(
            f"{path.name} is a zip archive, not a pickle. If it is a skops file, name it .skops; "
            "an ONNX model should end in .onnx.")
    with _pickle_stream(path) as stream:
        first = stream.read(1)
    if first != pickle.PROTO:
        raise ModelLoadError(
            f"{path.name} is not a pickle or joblib file (pickle protocol 2 or later, as pickle.dump and "
            "joblib.dump write).")


def _refusal(path: Path, names: list[str]) -> ModelLoadError:
    listed = ", ".join(names)
    return ModelLoadError(
        f"{path.name} was refused: it asks to import {listed}, which a model file may not use. Loading a pickle "
        "runs the code it names, so only scikit-learn, numpy, scipy, pandas, XGBoost, LightGBM and CatBoost "
        "classes are accepted. " + SAFE_FORMAT_ADVICE)


def _unavailable(path: Path, qualified_name: str) -> ModelLoadError:
    package = qualified_name.split(".")[0]
    return ModelLoadError(
        f"{path.name} needs {qualified_name}, which this server's {package} does not have: the package is missing or "
        "its version differs from the one the model was saved with. Re-save the model with the versions this server "
        "runs, or " + SAFE_FORMAT_ADVICE[0].lower() + SAFE_FORMAT_ADVICE[1:])


def _picklescan_verdict(path: Path, max_bytes: int) -> None:
    """Refuse on what picklescan can prove; leave joblib's raw array bytes, which it cannot parse, to the unpickler."""
    from picklescan.scanner import SafetyLevel, scan_pickle_bytes

    with _pickle_stream(path) as stream:
        result = scan_pickle_bytes(_BoundedStream(stream, path=path, max_bytes=max_bytes), str(path))
    dangerous = sorted({f"{g.module}.{g.name}" for g in result.globals if g.safety == SafetyLevel.Dangerous})
    if dangerous:
        raise _refusal(path, dangerous)
    seen = {f"{g.module}.{g.name}" for g in result.globals}
    if result.scan_err and "joblib.numpy_pickle.NumpyArrayWrapper" not in seen:
        raise ModelLoadError(f"{path.name} is damaged: it could not be read as a pickle.")
    if not result.globals:
        raise ModelLoadError(f"{path.name} holds no model: it is damaged or contains no Python class.")


class _BoundedStream(io.RawIOBase):
    """The decompressed stream, read in chunks of at most CHUNK_BYTES and refused past `max_bytes`.

    Both the scan and the unpickler read through it, so a small file that decompresses to more than the limit (a
    "zip bomb" in the numpy arrays joblib stores raw) is refused as it is read. Reading it whole (`read(max_bytes)`)
    made the decompressors reserve the full 2 GB at once, which the sandbox's memory limit refuses: every xz/lzma
    joblib model failed. picklescan only reads forward, then steps back one byte (`seek(-1, 1)`) to test for a
    further pickle, so one byte of push-back is all the seeking this needs.
    """

    def __init__(self, stream: IO[bytes], *, path: Path, max_bytes: int) -> None:
        super().__init__()
        self._stream, self._path, self._max_bytes = stream, path, max_bytes
        self._position = 0
        self._last = b""
        self._pushed_back = b""

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) == (0, io.SEEK_CUR):
            return self._position
        if (offset, whence) == (-1, io.SEEK_CUR) and not self._pushed_back:
            self._pushed_back = self._last[-1:]
            self._position -= len(self._pushed_back)
            return self._position
        raise io.UnsupportedOperation("the scanned stream only steps back one byte")

    def read(self, size: int | None = -1) -> bytes:
        wanted = self._max_bytes + 1 - self._position if size is None or size < 0 else size
        data = bytearray(self._take_pushed_back(wanted))
        while len(data) < wanted:
            chunk = self._stream.read(min(CHUNK_BYTES, wanted - len(data)))
            if not chunk:
                break
            data += chunk
            self._count(len(chunk))
        return self._returned(bytes(data))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(memoryview(buffer).cast("B")))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        limit = self._max_bytes + 1 - self._position if size is None or size < 0 else size
        head = self._take_pushed_back(min(limit, 1))
        if head == b"\n" or len(head) >= limit:
            return self._returned(head)
        line = self._stream.readline(limit - len(head))
        self._count(len(line))
        return self._returned(head + line)

    def _take_pushed_back(self, limit: int) -> bytes:
        taken, self._pushed_back = self._pushed_back[:limit], self._pushed_back[limit:]
        self._position += len(taken)
        return taken

    def _count(self, size: int) -> None:
        self._position += size
        if self._position > self._max_bytes:
            limit_mb = self._max_bytes / 1024**2
            raise ModelLoadError(f"{self._path.name} decompresses to more than {limit_mb:.0f} MB. " + SAFE_FORMAT_ADVICE)

    def _returned(self, data: bytes) -> bytes:
        if data:
            self._last = data
        return data


def _unpickle(path: Path, max_bytes: int) -> Any:
    with _pickle_stream(path) as stream:
        return RestrictedUnpickler(str(path), _BoundedStream(stream, path=path, max_bytes=max_bytes)).load()


def _dry_run_refusals(path: Path) -> list[str]:
    with _pickle_stream(path) as stream:
        bounded = _BoundedStream(stream, path=path, max_bytes=MAX_PICKLE_BYTES)
        unpickler = RestrictedUnpickler(str(path), bounded, record_refusals=True)
        try:
            unpickler.load()
        except Exception:  # a damaged tail or a stand-in where a real object was needed ends the dry run early
            pass
        return unpickler.refused


def scan_pickle(path: str | os.PathLike) -> list[str]:
    """Every global in the file that a model may not use, as `module.name`, e.g. ["posix.system"]. Runs none."""
    from picklescan.scanner import SafetyLevel, scan_pickle_bytes

    path = Path(path)
    with _pickle_stream(path) as stream:
        result = scan_pickle_bytes(_BoundedStream(stream, path=path, max_bytes=MAX_PICKLE_BYTES), str(path))
    found = {f"{g.module}.{g.name}" for g in result.globals if g.safety == SafetyLevel.Dangerous}
    return sorted(found | set(_dry_run_refusals(path)))


def load_pickle(path: str | os.PathLike, *, max_bytes: int = MAX_PICKLE_BYTES) -> object:
    """Load a pickle or joblib file through the scanner and the allow-list; raise ModelLoadError on refusal."""
    path = Path(path)
    _check_size_and_format(path, max_bytes)
    _picklescan_verdict(path, max_bytes)
    try:
        model = _unpickle(path, max_bytes)
    except RefusedGlobal as refused:
        raise _refusal(path, [refused.qualified_name]) from None
    except ModelLoadError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as error:
        raise ModelLoadError(
            f"{path.name} could not be loaded ({type(error).__name__}: {error}). If it was saved with other "
            "library versions than this server's, re-save it. " + SAFE_FORMAT_ADVICE) from None
    return model


# ---- PyTorch weight files (pytorch_model.bin, *.pt, *.pth, *.ckpt) ------------------------------------------------
# A state dict saved with torch.save names only these: tensors rebuilt from typed storages, kept in an OrderedDict.
TORCH_WEIGHT_GLOBALS = frozenset({
    "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.Size",
    "torch._tensor._rebuild_from_type_v2", "torch.serialization._get_layout", "torch.device",
    "builtins.set", "builtins.frozenset", "builtins.slice",
})
TORCH_STORAGE_SUFFIX = "Storage"  # torch.FloatStorage, torch.HalfStorage, torch.BFloat16Storage, ...
TORCH_DTYPES = frozenset({"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8",
                          "bool", "complex64", "complex128", "float", "half", "double", "long", "int", "short"})
TORCH_WEIGHTS_ADVICE = ("Save the weights as safetensors instead (`model.save_pretrained(folder)` writes "
                        "model.safetensors), which holds only numbers.")


def _torch_global_allowed(qualified: str) -> bool:
    if qualified in TORCH_WEIGHT_GLOBALS:
        return True
    module, _, name = qualified.rpartition(".")
    return module == "torch" and (name.endswith(TORCH_STORAGE_SUFFIX) or name in TORCH_DTYPES)


def scan_torch_weights(path: str | os.PathLike, *, max_bytes: int = MAX_PICKLE_BYTES) -> None:
    """Refuse a PyTorch weight file unless every global its pickles name is part of a plain state dict.

    picklescan reads the pickles inside the file (the zip format of torch.save, or the legacy format); anything it
    calls dangerous, any other global, or a file it cannot read is refused with ModelLoadError. Runs none of it; the
    loader then uses torch.load(weights_only=True), torch's own restricted unpickler, as a second line."""
    from picklescan.scanner import GenOpsError, SafetyLevel, scan_pytorch
    from picklescan.torch import InvalidMagicError

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise ModelLoadError(f"The weight file {path.name} is missing or empty.")
    size = path.stat().st_size
    if size > max_bytes:
        raise ModelLoadError(f"The weight file {path.name} is {size / 1024**2:.0f} MB, above the "
                             f"{max_bytes / 1024**2:.0f} MB limit for pickle-based weights. " + TORCH_WEIGHTS_ADVICE)
    try:
        with open(path, "rb") as stream:
            result = scan_pytorch(stream, path.name)
    except (GenOpsError, InvalidMagicError, ValueError, EOFError, OSError, RuntimeError, zipfile.BadZipFile,
            pickle.UnpicklingError) as error:
        raise ModelLoadError(f"{path.name} could not be read as PyTorch weights ({type(error).__name__}). "
                             + TORCH_WEIGHTS_ADVICE) from None
    names = {f"{g.module}.{g.name}" for g in result.globals}
    dangerous = sorted({f"{g.module}.{g.name}" for g in result.globals if g.safety == SafetyLevel.Dangerous})
    refused = dangerous or sorted(name for name in names if not _torch_global_allowed(name))
    if refused:
        raise ModelLoadError(f"{path.name} was refused: it asks to import {', '.join(refused[:5])}, which a weight "
                             "file may not use (loading a pickle runs the code it names). " + TORCH_WEIGHTS_ADVICE)
    if result.scan_err or not names:
        raise ModelLoadError(f"{path.name} is damaged or holds no tensors: it could not be read as PyTorch "
                             "weights. " + TORCH_WEIGHTS_ADVICE)
