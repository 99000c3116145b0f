"""Hugging Face text classifiers (and NLI models) from a folder written by `save_pretrained`.

Loaded like every model: by `models.load_model` inside the sandboxed child, never in the web process. The folder holds
config.json, the weights and the tokenizer files, and optionally the sidecar `rime_hugging_face.json` written by the
registries (docs/hugging_face.md):

    {"tokenizer_dir": ".", "class_map": {"0": "neg", "1": "pos"}, "ignore_class_names": true,
     "max_length": 256, "batch_size": 32, "text_features": ["text"], "label_names": ["neg", "pos"]}

Weights load from safetensors when the folder has them. Pickle-based weight files (pytorch_model.bin, *.pt, *.pth,
*.ckpt) are scanned first (safe_pickle.scan_torch_weights) and read with torch.load(weights_only=True); other formats
(TensorFlow, Flax, GGUF) and models that need their own code (`auto_map`) are refused. Nothing is downloaded:
HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE are set before transformers is imported.

Outputs follow the engine's conventions: binary -> (n,) probability of label 1; multiclass and NLI -> (n, k)
probabilities in the project's label order (see `output_order`). `embed(frame)` gives the mean-pooled last hidden
state, (n, hidden size).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stresstests.engine.errors import ModelLoadError, ModelOutputError
from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_NATURAL_LANGUAGE_INFERENCE,
)

SIDECAR = "rime_hugging_face.json"
CONFIG = "config.json"
SIDECAR_KEYS = frozenset({"tokenizer_dir", "class_map", "ignore_class_names", "max_length", "batch_size",
                          "text_features", "label_names"})
# The sidecar holds a handful of settings (a class map and label names at most): 64 KB is far above any real one.
SIDECAR_MAX_BYTES = 64 * 1024
DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_LENGTH = 512
PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
SAFETENSORS_RE = re.compile(r"^model(-\d+-of-\d+)?\.safetensors$")
STANDARD_PICKLE_RE = re.compile(r"^pytorch_model(-\d+-of-\d+)?\.bin$")
REFUSED_WEIGHTS = {"tf_model.h5": "TensorFlow", "flax_model.msgpack": "Flax", ".gguf": "GGUF", ".onnx": "ONNX",
                   ".h5": "Keras/HDF5", ".msgpack": "Flax"}
# A tokenizer folder holds at least one of these (transformers would otherwise build an empty tokenizer silently).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")
GENERIC_LABEL_RE = re.compile(r"^LABEL_\d+$")
PAIR_NAMES = ("premise", "hypothesis")


def is_hugging_face_folder(folder: Path) -> bool:
    """A folder written by save_pretrained (config.json), not a model.py folder."""
    return folder.is_dir() and (folder / CONFIG).is_file() and not (folder / "model.py").exists()


def read_sidecar(folder: Path) -> dict:
    """The folder's sidecar settings; a file above SIDECAR_MAX_BYTES is refused before it is parsed (it is read on
    the worker, outside the sandbox, and may come from a user's upload, bucket or hub)."""
    path = folder / SIDECAR
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            raw = handle.read(SIDECAR_MAX_BYTES + 1)
        if len(raw) > SIDECAR_MAX_BYTES:
            raise ModelLoadError(f"{SIDECAR} is larger than {SIDECAR_MAX_BYTES // 1024} KB; it holds a few settings, "
                                 "so this one was not read.")
        settings = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{SIDECAR} is not valid JSON: {error}") from None
    if not isinstance(settings, dict):
        raise ModelLoadError(f"{SIDECAR} must hold a JSON object.")
    unknown = sorted(set(settings) - SIDECAR_KEYS)
    if unknown:
        raise ModelLoadError(f"{SIDECAR} has unknown setting(s): {', '.join(unknown)}.")
    return settings


def write_sidecar(folder: Path, **settings: Any) -> Path:
    """Merge `settings` (None values left out) into the folder's sidecar."""
    merged = {**read_sidecar(folder), **{k: v for k, v in settings.items() if v is not None}}
    unknown = sorted(set(merged) - SIDECAR_KEYS)
    if unknown:
        raise ValueError(f"unknown sidecar setting(s): {', '.join(unknown)}")
    path = folder / SIDECAR
    path.write_text(json.dumps(merged, indent=2, sort_keys=True), encoding="utf-8")
    return path


def output_order(num_labels: int, *, class_map: dict | None, ignore_class_names: bool,
                 id2label: dict | None = None, label_names: list[str] | None = None) -> list[int]:
    """For each project label index j, the model output index whose probability goes in column j.

    - `class_map` maps the model's output indices to the project's labels. A label given as a number ("1") is the
      project's label index; a name is looked up in `label_names` (the project's class names, when known) and
      otherwise names the label at the same index (no reordering).
    - Unless `ignore_class_names`, when the model's config names its outputs (id2label other than LABEL_0, ...) and
      the class_map uses those names, output i goes to the label whose class_map name is id2label[i]: the class_map
      is then read as the project's label index -> name.
    """
    if not class_map:
        return list(range(num_labels))
    mapping = {int(key): str(value) for key, value in class_map.items()}
    if sorted(mapping) != list(range(num_labels)):
        raise ModelLoadError(f"class_map names {len(mapping)} classes ({', '.join(map(str, sorted(mapping)))}) but "
                             f"the model has {num_labels} outputs; give one entry per output index 0-{num_labels - 1}.")
    named_outputs = {int(k): str(v) for k, v in (id2label or {}).items()}
    meaningful = named_outputs and not all(GENERIC_LABEL_RE.match(v) for v in named_outputs.values())
    if not ignore_class_names and meaningful and set(named_outputs.values()) == set(mapping.values()):
        label_of_name = {name: index for index, name in mapping.items()}
        targets = {output: label_of_name[name] for output, name in named_outputs.items()}
    else:
        targets = {output: _label_index(value, output, label_names) for output, value in mapping.items()}
    if sorted(targets.values()) != list(range(num_labels)):
        raise ModelLoadError("class_map sends two model outputs to the same label (or leaves a label out): "
                             f"{json.dumps(class_map, sort_keys=True)}.")
    order = [0] * num_labels
    for output, label in targets.items():
        order[label] = output
    return order


def _label_index(value: str, output: int, label_names: list[str] | None) -> int:
    if value.strip().lstrip("-").isdigit():
        return int(value)
    if label_names:
        if value not in label_names:
            raise ModelLoadError(f"class_map names the label “{value}”, which is not one of the project's classes "
                                 f"({', '.join(label_names)}).")
        return label_names.index(value)
    return output


def _offline_environment() -> None:
    # No hub inside the sandbox (it has no network anyway): transformers must never try.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _weights(folder: Path) -> tuple[str, list[Path]]:
    """("safetensors" | "pickle", files); refuses a folder with neither, naming what it found."""
    files = [path for path in folder.iterdir() if path.is_file()]
    safetensors = sorted(path for path in files if SAFETENSORS_RE.match(path.name))
    if safetensors:
        return "safetensors", safetensors
    pickles = sorted(path for path in files if path.suffix.lower() in PICKLE_WEIGHT_SUFFIXES)
    if pickles:
        return "pickle", pickles
    other = [f"{path.name} ({kind})" for path in files for key, kind in REFUSED_WEIGHTS.items()
             if path.name == key or path.name.lower().endswith(key)]
    found = f" It holds {', '.join(sorted(set(other)))}, which cannot be loaded here." if other else ""
    raise ModelLoadError(f"The Hugging Face model folder has no PyTorch weights (model.safetensors or "
                         f"pytorch_model.bin).{found} Save it with `model.save_pretrained(folder)` from PyTorch.")


class HuggingFaceModel:
    """A sequence-classification model and its tokenizer; `predict(frame)` and `embed(frame)` over text columns."""

    source = "hugging_face"

    def __init__(self, folder: str | os.PathLike, *, model_task: str, **overrides: Any) -> None:
        folder = Path(folder)
        settings = {**read_sidecar(folder), **{k: v for k, v in overrides.items() if v is not None}}
        _offline_environment()
        import torch

        self.model_task, self.folder = model_task, folder
        self.batch_size = _positive_int(settings.get("batch_size", DEFAULT_BATCH_SIZE), "batch_size")
        self.text_features = list(settings.get("text_features") or [])
        self.pairs = model_task == MODEL_TASK_NATURAL_LANGUAGE_INFERENCE or len(self.text_features) == 2
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if (os.environ.get("OMP_NUM_THREADS") or "").isdigit():  # the sandbox sets 1: the worker's cores are shared
            torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))
        config = self._config(folder)
        self.tokenizer = self._tokenizer(folder, settings.get("tokenizer_dir") or ".")
        self.model = self._model(folder, config).to(self.device).eval()
        self.num_labels = int(self.model.config.num_labels)
        self.max_length = _positive_int(settings.get("max_length") or self._default_max_length(), "max_length")
        self.order = output_order(self.num_labels, class_map=settings.get("class_map"),
                                  ignore_class_names=bool(settings.get("ignore_class_names", False)),
                                  id2label=getattr(self.model.config, "id2label", None),
                                  label_names=settings.get("label_names"))
        self._check_task()

    # ---- loading -----------------------------------------------------------------------------------------------
    @staticmethod
    def _config(folder: Path):
        from transformers import AutoConfig

        try:
            raw = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"{CONFIG} of the Hugging Face model is not valid JSON: {error}") from None
        if not isinstance(raw, dict):
            raise ModelLoadError(f"{CONFIG} of the Hugging Face model must hold a JSON object.")
        if raw.get("auto_map"):
            raise ModelLoadError("This Hugging Face model needs its own Python code (config.json has auto_map), which "
                                 "is not run here. Use a model of a standard architecture, or wrap it in a model.py.")
        try:
            return AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        except (ValueError, KeyError, OSError) as error:
            raise ModelLoadError(f"The Hugging Face config.json cannot be read: {error}") from None

    def _tokenizer(self, folder: Path, tokenizer_dir: str):
        from transformers import AutoTokenizer

        location = (folder / tokenizer_dir).resolve()
        if not location.is_relative_to(folder.resolve()) or not location.is_dir():
            raise ModelLoadError(f"The tokenizer folder {tokenizer_dir!r} is not a folder inside the model's files.")
        if not any((location / name).is_file() for name in TOKENIZER_FILES):
            where = "the model's folder" if location == folder.resolve() else f"its tokenizer folder {tokenizer_dir!r}"
            raise ModelLoadError(f"The Hugging Face model has no tokenizer: {where} holds none of "
                                 f"{', '.join(TOKENIZER_FILES)}. Save it next to the model with "
                                 "`tokenizer.save_pretrained(folder)`, or give a tokenizer URI.")
        try:
            return AutoTokenizer.from_pretrained(location, local_files_only=True, trust_remote_code=False)
        except (ValueError, OSError, KeyError, TypeError) as error:
            raise ModelLoadError(f"The tokenizer could not be loaded from the model's files ({type(error).__name__}: "
                                 f"{error}). Save it next to the model with `tokenizer.save_pretrained(folder)`, or "
                                 "give a tokenizer URI.") from None

    def _model(self, folder: Path, config):
        from transformers import AutoModelForSequenceClassification

        kind, files = _weights(folder)
        try:
            if kind == "safetensors":
                return AutoModelForSequenceClassification.from_pretrained(
                    folder, config=config, use_safetensors=True, local_files_only=True, trust_remote_code=False)
            return self._pickled_model(folder, config, files)
        except ModelLoadError:
            raise
        except (ValueError, OSError, KeyError, RuntimeError) as error:
            raise ModelLoadError(f"The Hugging Face model could not be loaded ({type(error).__name__}: "
                                 f"{str(error)[:500]}).") from None

    @staticmethod
    def _pickled_model(folder: Path, config, files: list[Path]):
        import torch
        from transformers import AutoModelForSequenceClassification

        from stresstests.engine.safe_pickle import scan_torch_weights

        for path in files:
            scan_torch_weights(path)
        state: dict = {}
        for path in files:
            try:
                loaded = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as error:  # torch's restricted unpickler raises UnpicklingError and others
                raise ModelLoadError(f"{path.name} was refused by torch.load(weights_only=True): "
                                     f"{str(error).splitlines()[0][:300]}") from None
            if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
                loaded = loaded["state_dict"]  # a training checkpoint (*.ckpt) around the weights
            if not isinstance(loaded, dict):
                raise ModelLoadError(f"{path.name} holds a {type(loaded).__name__}, not a state dict of tensors.")
            state.update(loaded)
        model = AutoModelForSequenceClassification.from_config(config)
        missing, unexpected = model.load_state_dict(state, strict=False)
        buffers = {name for name, _ in model.named_buffers()}
        missing = [name for name in missing if name not in buffers]
        if missing or unexpected:
            raise ModelLoadError(f"The weights do not fit the model's config.json: {len(missing)} missing (e.g. "
                                 f"{', '.join(missing[:3]) or '-'}), {len(unexpected)} unexpected (e.g. "
                                 f"{', '.join(unexpected[:3]) or '-'}).")
        return model

    def _default_max_length(self) -> int:
        limits = [DEFAULT_MAX_LENGTH, getattr(self.model.config, "max_position_embeddings", None),
                  getattr(self.tokenizer, "model_max_length", None)]
        return min(int(limit) for limit in limits if isinstance(limit, int) and limit > 0)

    def _check_task(self) -> None:
        if self.model_task == MODEL_TASK_BINARY_CLASSIFICATION and self.num_labels not in (1, 2):
            raise ModelLoadError(f"The model has {self.num_labels} outputs, but the project is a binary "
                                 "classification; use a two-class model or a multiclass project.")
        if self.model_task in (MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_NATURAL_LANGUAGE_INFERENCE) and (
                self.num_labels < 2):
            raise ModelLoadError("The model has a single output; a multiclass or NLI project needs one per class.")
        if self.model_task not in (MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION,
                                   MODEL_TASK_NATURAL_LANGUAGE_INFERENCE):
            raise ModelLoadError("A Hugging Face sequence classifier serves binary, multiclass and NLI projects only.")

    # ---- inference ---------------------------------------------------------------------------------------------
    def text_columns(self, frame: pd.DataFrame) -> list[str]:
        """The text feature(s): the configured ones, else the conventional names, else the only text columns."""
        needed = 2 if self.pairs else 1
        if self.text_features:
            missing = [c for c in self.text_features if c not in frame.columns]
            if missing:
                raise ModelOutputError(f"The rows lack the text feature(s) {', '.join(missing)}.")
            return self.text_features[:needed]
        conventional = list(PAIR_NAMES) if self.pairs else ["text"]
        if all(c in frame.columns for c in conventional):
            return conventional
        texts = [c for c in frame.columns if _is_text(frame[c])]
        if len(texts) == needed:
            return texts
        raise ModelOutputError(
            f"Cannot tell which column{'s hold' if needed == 2 else ' holds'} the text: the rows have "
            f"{len(texts)} text columns ({', '.join(map(str, texts[:10])) or 'none'}). Name them in the dataset's "
            "data_params.text_features.")

    def _encode(self, frame: pd.DataFrame):
        columns = [[_as_text(v) for v in frame[c]] for c in self.text_columns(frame)]
        return self.tokenizer(*columns, padding=True, truncation=True, max_length=self.max_length,
                              return_tensors="pt")

    def _batches(self, frame: pd.DataFrame, *, hidden: bool = False):
        import torch

        with torch.no_grad():
            for start in range(0, len(frame), self.batch_size):
                encoded = self._encode(frame.iloc[start:start + self.batch_size])
                encoded = {name: tensor.to(self.device) for name, tensor in encoded.items()}
                yield encoded, self.model(**encoded, output_hidden_states=hidden)

    def probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """(n, k) class probabilities in the project's label order."""
        import torch

        if len(frame) == 0:
            return np.empty((0, self.num_labels))
        chunks = []
        for _, output in self._batches(frame):
            logits = output.logits.float()
            if logits.shape[-1] == 1:
                positive = torch.sigmoid(logits)
                chunks.append(torch.cat([1 - positive, positive], dim=-1).cpu().numpy())
            else:
                chunks.append(torch.softmax(logits, dim=-1).cpu().numpy())
        probabilities = np.concatenate(chunks).astype(np.float64)
        return probabilities if probabilities.shape[1] != len(self.order) else probabilities[:, self.order]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Binary: (n,) probability of label 1; multiclass and NLI: (n, k). Softmax outputs, so no further checks
        are needed here; the sandbox's parent and the prediction cache validate them again in any case."""
        probabilities = self.probabilities(frame)
        if self.model_task == MODEL_TASK_BINARY_CLASSIFICATION:
            return probabilities[:, 1]
        return probabilities

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        """The mean of the last hidden state over each text's tokens (padding left out): (n, hidden size)."""
        hidden_size = int(getattr(self.model.config, "hidden_size", 0) or 0)
        if len(frame) == 0:
            return np.empty((0, hidden_size))
        chunks = []
        for encoded, output in self._batches(frame, hidden=True):
            last = output.hidden_states[-1].float()
            mask = encoded["attention_mask"].unsqueeze(-1).to(last.dtype)
            chunks.append(((last * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).cpu().numpy())
        return np.concatenate(chunks).astype(np.float64)


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0 or isinstance(value, bool):
        raise ModelLoadError(f"{SIDECAR}: {name} must be a positive whole number, not {value!r}.")
    return number


def _is_text(values: pd.Series) -> bool:
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return True
    return values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _as_text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return value if isinstance(value, str) else str(value)


def load_hugging_face(folder: Path, model_task: str) -> HuggingFaceModel:
    return HuggingFaceModel(folder, model_task=model_task)
