"""The Hugging Face adapter (stresstests/engine/hugging_face.py) on tiny models built by tests/text_models.py: label
order (class_map, ignore_class_names), NLI pairs, truncation, batching, embeddings, weight files, and the sandbox."""
from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.errors import ModelLoadError, ModelOutputError
from stresstests.engine.hugging_face import SIDECAR, HuggingFaceModel, output_order, write_sidecar
from stresstests.engine.models import load_model
from stresstests.engine.sandbox import ISOLATION_BUBBLEWRAP, SandboxedModel
from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_NATURAL_LANGUAGE_INFERENCE,
)
from tests.engine.test_engine_sandbox import require_bubblewrap
from tests.text_models import NLI, SENTIMENT, TOPIC, cached_text_classifier, copy_model, nli_frame, sentiment_frame, \
    topic_frame

BINARY, MULTICLASS, NLI_TASK = (MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION,
                                MODEL_TASK_NATURAL_LANGUAGE_INFERENCE)


@pytest.fixture(scope="module")
def sentiment_model():
    return cached_text_classifier(SENTIMENT)


@pytest.fixture(scope="module")
def topic_model():
    return cached_text_classifier(TOPIC)


@pytest.fixture(scope="module")
def nli_model():
    return cached_text_classifier(NLI)


@pytest.fixture(scope="module")
def reviews():
    return sentiment_frame(64, seed=11)


def model_with(source, tmp_path, **sidecar):
    folder = copy_model(source, tmp_path / "model")
    write_sidecar(folder, **sidecar)
    return folder


def test_a_save_pretrained_folder_loads_as_the_hugging_face_adapter_and_scores_well(sentiment_model, reviews):
    model = load_model(sentiment_model, model_task=BINARY)
    assert isinstance(model, HuggingFaceModel)
    predictions = model.predict(reviews[["text"]])
    assert predictions.shape == (len(reviews),)
    assert ((predictions > 0.5) == reviews["label"]).mean() >= 0.95


def test_class_map_with_label_indices_reorders_the_probability_columns(sentiment_model, reviews, tmp_path):
    plain = load_model(sentiment_model, model_task=BINARY).predict(reviews[["text"]])
    swapped = load_model(model_with(sentiment_model, tmp_path, class_map={"0": "1", "1": "0"},
                                    ignore_class_names=True), model_task=BINARY)
    np.testing.assert_allclose(swapped.predict(reviews[["text"]]), 1 - plain, atol=1e-6)


def test_class_map_names_follow_the_configs_names_unless_ignore_class_names(topic_model, tmp_path):
    texts = topic_frame(30, seed=5)[["text"]]
    plain = load_model(topic_model, model_task=MULTICLASS).predict(texts)  # id2label: sports, technology, food
    class_map = {"0": "food", "1": "sports", "2": "technology"}
    by_names = load_model(model_with(topic_model, tmp_path / "a", class_map=class_map, ignore_class_names=False),
                          model_task=MULTICLASS).predict(texts)
    # The config calls output 0 "sports", which the class_map puts at label 1; "food" (output 2) goes to label 0.
    np.testing.assert_allclose(by_names, plain[:, [2, 0, 1]], atol=1e-6)
    ignoring = load_model(model_with(topic_model, tmp_path / "b", class_map=class_map, ignore_class_names=True),
                          model_task=MULTICLASS).predict(texts)
    np.testing.assert_allclose(ignoring, plain, atol=1e-6)


def test_class_map_names_are_placed_by_the_projects_class_names_when_known():
    assert output_order(3, class_map={"0": "c", "1": "a", "2": "b"}, ignore_class_names=True,
                        label_names=["a", "b", "c"]) == [1, 2, 0]
    with pytest.raises(ModelLoadError, match="3 outputs"):
        output_order(3, class_map={"0": "a", "1": "b"}, ignore_class_names=True)
    with pytest.raises(ModelLoadError, match="same label"):
        output_order(2, class_map={"0": "1", "1": "1"}, ignore_class_names=True)
    with pytest.raises(ModelLoadError, match="not one of the project's classes"):
        output_order(2, class_map={"0": "x", "1": "a"}, ignore_class_names=True, label_names=["a", "b"])


def test_an_nli_model_reads_premise_and_hypothesis_as_a_pair(nli_model, tmp_path):
    pairs = nli_frame(60, seed=9)
    model = load_model(nli_model, model_task=NLI_TASK)
    probabilities = model.predict(pairs[["premise", "hypothesis"]])
    assert probabilities.shape == (60, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    assert (probabilities.argmax(axis=1) == pairs["label"]).mean() >= 0.9
    # The pair goes premise first, by name, whatever the column order.
    np.testing.assert_allclose(model.predict(pairs[["hypothesis", "premise"]]), probabilities, atol=1e-6)
    encoded = model._encode(pairs.head(1))
    assert set(encoded["token_type_ids"][0].tolist()) == {0, 1}  # two segments
    # Other column names come from the dataset's text_features.
    named = load_model(model_with(nli_model, tmp_path, text_features=["a", "b"]), model_task=NLI_TASK)
    renamed = pairs.rename(columns={"premise": "a", "hypothesis": "b"})[["b", "a"]]
    np.testing.assert_allclose(named.predict(renamed), probabilities, atol=1e-6)


def test_very_long_text_is_truncated_to_max_length(sentiment_model, tmp_path):
    model = load_model(model_with(sentiment_model, tmp_path, max_length=8), model_task=BINARY)
    head = "the movie was great and i loved it"
    long = f"{head} {'terrible awful boring ' * 3000}"  # ~9,000 words: far past the 128 positions of the model
    short, truncated = model.predict(pd.DataFrame({"text": [head, long]}))
    assert truncated == pytest.approx(short, abs=1e-6)  # only the first 8 tokens (with [CLS]/[SEP]) were read
    assert model._encode(pd.DataFrame({"text": [long]}))["input_ids"].shape[1] == 8
    default = load_model(sentiment_model, model_task=BINARY)
    assert default.max_length == 128  # the smaller of the model's positions and the tokenizer's limit
    assert default.predict(pd.DataFrame({"text": [long]})).shape == (1,)


def test_batched_predictions_equal_unbatched_ones(sentiment_model, tmp_path):
    texts = sentiment_frame(70, seed=4)[["text"]]
    texts.loc[3, "text"] = "the show was dull " * 20  # lengths differ, so the batches pad differently
    one_by_one = load_model(model_with(sentiment_model, tmp_path / "a", batch_size=1), model_task=BINARY)
    batched = load_model(model_with(sentiment_model, tmp_path / "b", batch_size=32), model_task=BINARY)
    np.testing.assert_allclose(batched.predict(texts), one_by_one.predict(texts), atol=1e-5)


def test_embed_gives_one_mean_pooled_vector_per_text(sentiment_model, reviews):
    model = load_model(sentiment_model, model_task=BINARY)
    vectors = model.embed(reviews[["text"]])
    assert vectors.shape == (len(reviews), 32)
    assert np.isfinite(vectors).all()
    padded = pd.DataFrame({"text": [reviews.loc[0, "text"], "the play was " + "very " * 30 + "good"]})
    np.testing.assert_allclose(model.embed(padded)[0], vectors[0], atol=1e-5)  # padding does not count


def test_missing_and_non_text_values_are_scored_as_text(sentiment_model):
    model = load_model(sentiment_model, model_task=BINARY)
    frame = pd.DataFrame({"text": ["the movie was great", None, "", 42]}, dtype=object)
    assert model.predict(frame).shape == (4,)


def test_without_text_features_an_ambiguous_frame_is_refused_with_a_message(sentiment_model):
    model = load_model(sentiment_model, model_task=BINARY)
    with pytest.raises(ModelOutputError, match="text_features"):
        model.predict(pd.DataFrame({"title": ["a"], "body": ["b"]}))


def test_pickled_pytorch_weights_load_after_the_scan(sentiment_model, reviews, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification

    folder = copy_model(sentiment_model, tmp_path / "model")
    weights = AutoModelForSequenceClassification.from_pretrained(folder).state_dict()
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")
    expected = load_model(sentiment_model, model_task=BINARY).predict(reviews[["text"]])
    np.testing.assert_allclose(load_model(folder, model_task=BINARY).predict(reviews[["text"]]), expected, atol=1e-6)
    # A training checkpoint with another name works too.
    (folder / "pytorch_model.bin").unlink()
    torch.save({"state_dict": weights, "epoch": 3}, folder / "last.ckpt")
    np.testing.assert_allclose(load_model(folder, model_task=BINARY).predict(reviews[["text"]]), expected, atol=1e-6)


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "weights.pt"])
def test_a_weight_file_with_a_malicious_pickle_is_refused_without_running_it(sentiment_model, tmp_path, name):
    import torch

    folder = copy_model(sentiment_model, tmp_path / "model")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    torch.save({"bert.embeddings.word_embeddings.weight": torch.zeros(2), "payload": _Exploit(str(marker))},
               folder / name)
    with pytest.raises(ModelLoadError, match=r"refused: it asks to import (posix|os)\.system"):
        load_model(folder, model_task=BINARY)
    assert not marker.exists()


def test_a_plain_pickle_posing_as_weights_is_refused(sentiment_model, tmp_path):
    folder = copy_model(sentiment_model, tmp_path / "model")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Exploit(str(tmp_path / "pwned")), protocol=2))
    with pytest.raises(ModelLoadError, match="refused"):
        load_model(folder, model_task=BINARY)
    assert not (tmp_path / "pwned").exists()


def test_other_weight_formats_and_custom_code_are_refused_with_a_clear_message(sentiment_model, tmp_path):
    folder = copy_model(sentiment_model, tmp_path / "model")
    (folder / "model.safetensors").rename(folder / "tf_model.h5")
    with pytest.raises(ModelLoadError, match=r"no PyTorch weights .*tf_model\.h5 \(TensorFlow\)"):
        load_model(folder, model_task=BINARY)
    custom = copy_model(sentiment_model, tmp_path / "custom")
    config = json.loads((custom / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
    (custom / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="own Python code"):
        load_model(custom, model_task=BINARY)


def test_a_tokenizer_in_a_subfolder_is_found_through_the_sidecar(sentiment_model, reviews, tmp_path):
    folder = copy_model(sentiment_model, tmp_path / "model")
    (folder / "tokenizer").mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.move(folder / name, folder / "tokenizer" / name)
    with pytest.raises(ModelLoadError, match="tokenizer"):
        load_model(folder, model_task=BINARY)
    write_sidecar(folder, tokenizer_dir="tokenizer")
    assert load_model(folder, model_task=BINARY).predict(reviews[["text"]]).shape == (len(reviews),)
    write_sidecar(folder, tokenizer_dir="../..")
    with pytest.raises(ModelLoadError, match="not a folder inside"):
        load_model(folder, model_task=BINARY)


def test_a_binary_project_refuses_a_three_class_model(topic_model):
    with pytest.raises(ModelLoadError, match="3 outputs"):
        load_model(topic_model, model_task=BINARY)


def test_an_unknown_sidecar_setting_is_refused(sentiment_model, tmp_path):
    folder = copy_model(sentiment_model, tmp_path / "model")
    (folder / SIDECAR).write_text(json.dumps({"trust_remote_code": True}))
    with pytest.raises(ModelLoadError, match="unknown setting"):
        load_model(folder, model_task=BINARY)


def test_the_model_runs_inside_the_real_sandbox_with_its_embeddings(sentiment_model, reviews, tmp_path):
    require_bubblewrap()
    folder = model_with(sentiment_model, tmp_path, class_map={"0": "1", "1": "0"}, ignore_class_names=True,
                        batch_size=7)
    expected = load_model(folder, model_task=BINARY)
    lines: list[str] = []
    with SandboxedModel(folder, model_task=BINARY, isolation=ISOLATION_BUBBLEWRAP, log=lines.append) as sandboxed:
        np.testing.assert_allclose(sandboxed.predict(reviews[["text"]]), expected.predict(reviews[["text"]]),
                                   atol=1e-6)
        assert hasattr(sandboxed, "embed")
        np.testing.assert_allclose(sandboxed.embed(reviews[["text"]]), expected.embed(reviews[["text"]]), atol=1e-5)
    assert "bubblewrap" in lines[0]


def test_a_sandboxed_model_without_embeddings_has_no_embed(tmp_path):
    (tmp_path / "model.py").write_text("def predict_df(df):\n    return [0.5] * len(df)\n")
    with SandboxedModel(tmp_path / "model.py", model_task=BINARY) as sandboxed:
        assert not hasattr(sandboxed, "embed")
        assert sandboxed.predict(pd.DataFrame({"x": [1, 2]})).shape == (2,)


def test_a_malicious_weight_file_is_refused_inside_the_sandbox_too(sentiment_model, tmp_path):
    import torch

    folder = copy_model(sentiment_model, tmp_path / "model")
    (folder / "model.safetensors").unlink()
    torch.save({"payload": _Exploit(str(tmp_path / "pwned"))}, folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="refused"):
        SandboxedModel(folder, model_task=BINARY)
    assert not (tmp_path / "pwned").exists()
