"""``bench run --checkpoint`` with checkpoints of the published SketchXAI code: a folder in the hub layout
(``config.json`` of a transformers-4.x ``ViTConfig`` + ``pytorch_model.bin``, read with
``weights_only=True``), a ``.safetensors`` file, and a hub id that cannot be reached. The folders are
written here, with random weights in the published key layout and small sizes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from conftest import run_bench
from test_stroke_vit import generated_reference_shapes, random_reference_state

SIZES = {"hidden": 48, "layers": 2, "mlp": 96, "strokes": 64}


def vit_config(classes: int, heads: int) -> dict:
    """A ``config.json`` as transformers 4.27's ``ViTConfig.to_json_file`` writes it for the reference."""
    return {"_name_or_path": "WinKawaks/vit-tiny-patch16-224", "architectures": ["ViTForSketchClassification"],
            "attention_probs_dropout_prob": 0.0, "encoder_stride": 16, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0, "hidden_size": SIZES["hidden"], "image_size": 224,
            "initializer_range": 0.02, "intermediate_size": SIZES["mlp"], "layer_norm_eps": 1e-12,
            "model_type": "vit", "num_attention_heads": heads, "num_channels": 3,
            "num_hidden_layers": SIZES["layers"], "patch_size": 16, "qkv_bias": True, "torch_dtype": "float32",
            "transformers_version": "4.27.0",
            "id2label": {str(i): f"LABEL_{i}" for i in range(classes)},
            "label2id": {f"LABEL_{i}": i for i in range(classes)}}


def hub_folder(folder: Path, classes: int, heads: int = 4) -> Path:
    """A hub-layout folder (``config.json`` + ``pytorch_model.bin``) of a reference checkpoint."""
    folder.mkdir(parents=True)
    state = random_reference_state(generated_reference_shapes(classes=classes, **SIZES), seed=3)
    (folder / "config.json").write_text(json.dumps(vit_config(classes, heads), indent=2))
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def only_record(results: Path) -> dict:
    records = [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]
    assert len(records) == 1, [r["task"]["name"] for r in records]
    return records[0]


QUICK_SLI = ("--set", "sli_recovery.max_sketches=6", "--set", "sli_recovery.steps=3", "--set",
             "sli_recovery.pictures=2", "--threads", "1")


@pytest.mark.slow
def test_sli_recovery_on_qd30_with_a_hub_layout_folder(quickdraw_dir, tmp_path):
    data = tmp_path / "qd30.h5"
    prepared = run_bench("data", "prepare", "--source", str(quickdraw_dir / "full" / "simplified"),
                         "--categories", "30", "--out", str(data))
    assert prepared.returncode == 0, prepared.stderr
    folder = hub_folder(tmp_path / "SketchXAI-Tiny-QuickDraw30", classes=30)
    done = run_bench("run", "--task", "sli_recovery", "--encoder", "stroke_vit_tiny", "--checkpoint", str(folder),
                     "--data", str(data), "--results", str(tmp_path / "results"), *QUICK_SLI)
    assert done.returncode == 0, done.stderr
    record = only_record(tmp_path / "results")
    encoder = record["config"]["encoder"]
    assert encoder["reference_compat"] is True
    assert (encoder["hidden_size"], encoder["num_layers"], encoder["mlp_size"], encoder["num_heads"],
            encoder["max_strokes"]) == (48, 2, 96, 4, 64)
    # a checkpoint outside the results folder: by name and sha256, not this machine's path
    from benchmark.records import sha256_of

    used = {"name": folder.name, "sha256": sha256_of(folder)}
    assert record["extra"]["checkpoint_used"] == used and used["sha256"]
    assert record["encoder"]["config_source"] == f"external checkpoint {folder.name} (sha256 {used['sha256'][:12]})"
    assert record["metrics"]["fidelity"]["n"] == 6
    # no classifier was trained on the run's behalf
    assert not list((tmp_path / "results" / "runs").glob("*recognition*"))


def test_recognition_evaluates_a_safetensors_reference_file(tmp_path):
    """The paper's recognition run, on a file: no training, the file's sizes in the record."""
    sizes = {**SIZES, "hidden": 64, "mlp": 128}  # no config.json: heads = hidden / 64
    state = random_reference_state(generated_reference_shapes(classes=12, **sizes), seed=4)
    path = tmp_path / "reference.safetensors"
    save_file(state, str(path))
    done = run_bench("run", "--task", "recognition", "--encoder", "stroke_vit_tiny", "--checkpoint", str(path),
                     "--data", "demo", "--results", str(tmp_path / "results"), "--threads", "1")
    assert done.returncode == 0, done.stderr
    assert "no training" in done.stderr
    record = only_record(tmp_path / "results")
    encoder = record["config"]["encoder"]
    assert (encoder["hidden_size"], encoder["num_heads"], encoder["mlp_size"], encoder["reference_compat"]) == (
        64, 1, 128, True)
    assert record["encoder"]["parameters"] == sum(
        v.numel() for k, v in state.items()
        if not k.startswith(("classifier.", "vit.embeddings.mask_token", "vit.embeddings.position_embeddings",
                             "vit.embeddings.patch_embeddings.")))
    assert 0 <= record["metrics"]["top1"]["value"] <= 1


def test_a_head_with_other_classes_than_the_data_is_one_line(tmp_path):
    folder = hub_folder(tmp_path / "ref", classes=5)
    done = run_bench("run", "--task", "sli_recovery", "--encoder", "stroke_vit_tiny", "--checkpoint", str(folder),
                     "--data", "demo", "--results", str(tmp_path / "results"), *QUICK_SLI)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("bench: error:") and "5 classes" in lines[-1] and "num_classes=12" in lines[-1]
    assert not list((tmp_path / "results" / "runs").glob("*.json"))


def test_unreachable_hub_id_and_missing_path_are_one_line(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = run_bench("run", "--task", "sli_recovery", "--encoder", "stroke_vit_tiny", "--checkpoint",
                     "WinKawaks/SketchXAI-Base-QuickDraw30", "--data", "demo", "--results", str(tmp_path / "r"),
                     *QUICK_SLI, env=env)
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("bench: error:") and "WinKawaks/SketchXAI-Base-QuickDraw30" in line
    assert "hub" in line and "snapshot_download" in line and "path" in line
    missing = run_bench("run", "--task", "sli_recovery", "--encoder", "stroke_vit_tiny", "--checkpoint",
                        str(tmp_path / "nothing" / "here"), "--data", "demo", "--results", str(tmp_path / "r"),
                        *QUICK_SLI, env=env)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr.strip().splitlines()[-1]


def test_an_encoder_without_load_external_names_what_it_expected(tmp_path):
    folder = hub_folder(tmp_path / "ref", classes=12)
    done = run_bench("run", "--task", "recognition", "--encoder", "seq_lstm", "--checkpoint", str(folder),
                     "--data", "demo", "--results", str(tmp_path / "results"), "--threads", "1")
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert "not a checkpoint folder" in line and "'seq_lstm' loads no other kind of checkpoint" in line


def test_weights_are_never_unpickled_as_code(tmp_path):
    """A pytorch_model.bin holding a pickled object is refused (torch.load(weights_only=True))."""
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(vit_config(12, 4)))
    marker = tmp_path / "ran"
    torch.save({"x": _Boom(str(marker))}, folder / "pytorch_model.bin")
    done = run_bench("run", "--task", "recognition", "--encoder", "stroke_vit_tiny", "--checkpoint", str(folder),
                     "--data", "demo", "--results", str(tmp_path / "results"), "--threads", "1")
    assert done.returncode == 2 and "not a torch state dict" in done.stderr
    assert not marker.exists()


class _Boom:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))
