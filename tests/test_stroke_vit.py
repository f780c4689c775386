"""The stroke-aware ViT: reference checkpoint mapping, compat numerics, backbone init, SLI caching.

Reference checkpoints are written by the tests in the published key layout (names and shapes from
``state_dict_keys_tiny_30classes.txt`` when ``BENCH_REFERENCE_DIR`` or ``../shared/reference`` has it,
else the same layout generated here) with random weights; expected logits come from a hand-written
forward (functional LSTM-per-stroke, attention, MLP) that shares no code with the module.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from benchmark.batch import collate
from benchmark.checkpoints import load_checkpoint, save_checkpoint
from benchmark.errors import BenchError
from encoders.stroke_vit import ENCODERS, StrokeViTBase, StrokeViTTiny, StrokeViTTinyNoLocation
from encoders.stroke_vit.model import PackedStrokes, StrokeViT
from encoders.stroke_vit.reference import from_reference, load_reference_state_dict

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = Path(os.environ.get("BENCH_REFERENCE_DIR", ROOT.parent / "shared" / "reference"))
KEYS_FILE = REFERENCE_DIR / "state_dict_keys_tiny_30classes.txt"


# -- synthetic sketches --------------------------------------------------------------------------
def sketch(rng: np.random.Generator, strokes: int, points: tuple[int, int]) -> np.ndarray:
    """Random-walk sketch ``(n, 3)`` (x, y, end_of_stroke) inside the normalised canvas."""
    parts = []
    for _ in range(strokes):
        n = int(rng.integers(*points))
        xy = np.clip(rng.uniform(-0.6, 0.6, 2) + np.cumsum(rng.normal(0, 0.05, (n, 2)), axis=0), -0.74, 0.74)
        parts.append(np.hstack([xy, np.eye(1, n, n - 1).T]))
    return np.vstack(parts).astype(np.float32)


@pytest.fixture
def sketches():
    rng = np.random.default_rng(7)
    return [sketch(rng, 4, (2, 9)), sketch(rng, 7, (1, 12)), sketch(rng, 1, (3, 5))]


# -- the reference's layout and a hand-written reference forward ----------------------------------------
def generated_reference_shapes(hidden=192, layers=12, mlp=768, strokes=196, classes=345):
    """The key layout of the reference's ``ViTForSketchClassification`` (transformers 4.x names)."""
    h, half = hidden, hidden // 2
    shapes = {"vit.embeddings.cls_token": (1, 1, h), "vit.embeddings.mask_token": (1, 1, h),
              "vit.embeddings.position_embeddings": (1, 197, h),
              "vit.embeddings.patch_embeddings.projection.weight": (h, 3, 16, 16),
              "vit.embeddings.patch_embeddings.projection.bias": (h,)}
    for layer, width in ((0, 4), (1, h)):
        for sfx in ("", "_reverse"):
            p = f"vit.embeddings.stroke_embeddings.{{}}_l{layer}{sfx}"
            shapes.update({p.format("weight_ih"): (4 * half, width), p.format("weight_hh"): (4 * half, half),
                           p.format("bias_ih"): (4 * half,), p.format("bias_hh"): (4 * half,)})
    shapes.update({"vit.embeddings.order_embeddings.weight": (strokes, h),
                   "vit.embeddings.location_embeddings.weight": (h, 2),
                   "vit.embeddings.location_embeddings.bias": (h,)})
    for i in range(layers):
        p = f"vit.encoder.layer.{i}."
        for name in ("attention.attention.query", "attention.attention.key", "attention.attention.value",
                     "attention.output.dense"):
            shapes.update({p + name + ".weight": (h, h), p + name + ".bias": (h,)})
        shapes.update({p + "intermediate.dense.weight": (mlp, h), p + "intermediate.dense.bias": (mlp,),
                       p + "output.dense.weight": (h, mlp), p + "output.dense.bias": (h,)})
        for name in ("layernorm_before", "layernorm_after"):
            shapes.update({p + name + ".weight": (h,), p + name + ".bias": (h,)})
    shapes.update({"vit.layernorm.weight": (h,), "vit.layernorm.bias": (h,), "vit.fc.weight": (classes, h),
                   "vit.fc.bias": (classes,), "classifier.weight": (2, h), "classifier.bias": (2,)})
    return shapes


def reference_shapes() -> dict[str, tuple[int, ...]]:
    if not KEYS_FILE.is_file():
        return generated_reference_shapes()
    shapes = {}
    for line in KEYS_FILE.read_text().splitlines():
        if line.strip():
            key, dims = line.split(" ", 1)
            shapes[key] = tuple(int(d) for d in re.findall(r"\d+", dims))
    return shapes


def random_reference_state(shapes, seed=0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        t = torch.randn(shape, generator=g)
        if "layernorm" in key and key.endswith("weight"):
            t = 1 + 0.1 * t
        elif "order_embeddings" in key or "cls_token" in key:
            t = 0.5 * t
        else:
            t = 0.08 * t
        state[key] = t
    return state


def stroke_features(points: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per stroke: (start point (2,), features (n, 4) dx, dy, p_draw, p_end)."""
    out = []
    for stroke in np.split(points, np.flatnonzero(points[:, 2] > 0.5)[:-1] + 1):
        xy = stroke[:, :2].astype(np.float64)
        d = np.vstack([[0, 0], np.diff(xy, axis=0)])
        pen = np.zeros((len(xy), 2))
        pen[:-1, 0], pen[-1, 1] = 1, 1
        out.append((xy[0], np.hstack([d, pen])))
    return out


def reference_logits(state, points: np.ndarray, heads: int, slots: int | None) -> torch.Tensor:
    """One sketch's logits as the reference computes them: ``slots`` stroke tokens (the reference's
    196, padded ones holding order + location bias) or, with ``slots=None``, only the real strokes."""
    s = {k: v.double() for k, v in state.items()}
    hidden = s["vit.embeddings.cls_token"].shape[-1]
    lstm = torch.nn.LSTM(4, hidden // 2, num_layers=2, bidirectional=True, batch_first=True).double()
    p = "vit.embeddings.stroke_embeddings."
    lstm.load_state_dict({k[len(p):]: v for k, v in s.items() if k.startswith(p)})
    strokes = stroke_features(points)
    slots = len(strokes) if slots is None else slots
    tokens = torch.zeros(slots, hidden, dtype=torch.float64)
    for i, (start, feats) in enumerate(strokes):  # one stroke at a time: no padding anywhere
        with torch.no_grad():
            shape = lstm(torch.from_numpy(feats)[None])[0][0].sum(0)
        tokens[i] = shape + s["vit.embeddings.location_embeddings.weight"] @ torch.from_numpy(start)
    tokens += s["vit.embeddings.location_embeddings.bias"] + s["vit.embeddings.order_embeddings.weight"][:slots]
    x = torch.cat([s["vit.embeddings.cls_token"][0], tokens])
    n_layers = 1 + max(int(k.split(".")[3]) for k in s if k.startswith("vit.encoder.layer."))
    for i in range(n_layers):
        def w(name, i=i):
            return s[f"vit.encoder.layer.{i}.{name}.weight"], s[f"vit.encoder.layer.{i}.{name}.bias"]

        y = F.layer_norm(x, (hidden,), *w("layernorm_before"), eps=1e-12)
        q, k, v = (F.linear(y, *w(f"attention.attention.{n}")).view(-1, heads, hidden // heads).transpose(0, 1)
                   for n in ("query", "key", "value"))
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hidden // heads), dim=-1)
        x = x + F.linear((att @ v).transpose(0, 1).reshape(-1, hidden), *w("attention.output.dense"))
        y = F.layer_norm(x, (hidden,), *w("layernorm_after"), eps=1e-12)
        x = x + F.linear(F.gelu(F.linear(y, *w("intermediate.dense"))), *w("output.dense"))
    cls = F.layer_norm(x[0], (hidden,), s["vit.layernorm.weight"], s["vit.layernorm.bias"], eps=1e-12)
    return F.linear(cls, s["vit.fc.weight"], s["vit.fc.bias"]).float()


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    """A reference-layout Tiny checkpoint (key list of the 30-class model: its head has 345 rows)."""
    state = random_reference_state(reference_shapes())
    path = tmp_path_factory.mktemp("ref") / "reference.safetensors"
    save_file(state, str(path))
    return path, state


# -- reference layout ------------------------------------------------------------------------------
def test_generated_layout_matches_published_key_list():
    if not KEYS_FILE.is_file():
        pytest.skip(f"reference key list not found at {KEYS_FILE} (set BENCH_REFERENCE_DIR)")
    assert reference_shapes() == generated_reference_shapes()


def test_from_reference_puts_every_used_tensor_in_its_place(reference_file):
    path, state = reference_file
    module = from_reference(path)
    ours = module.state_dict()
    assert module.num_classes == 345 and module.reference_compat and not module.training
    expected = {"cls_token": "vit.embeddings.cls_token", "order.weight": "vit.embeddings.order_embeddings.weight",
                "location.weight": "vit.embeddings.location_embeddings.weight",
                "location.bias": "vit.embeddings.location_embeddings.bias",
                "layernorm.weight": "vit.layernorm.weight",
                "layernorm.bias": "vit.layernorm.bias", "head.weight": "vit.fc.weight", "head.bias": "vit.fc.bias",
                "shape.weight_ih_l1_reverse": "vit.embeddings.stroke_embeddings.weight_ih_l1_reverse",
                "shape.bias_hh_l0": "vit.embeddings.stroke_embeddings.bias_hh_l0",
                "layers.11.attention.q_proj.weight": "vit.encoder.layer.11.attention.attention.query.weight",
                "layers.3.attention.k_proj.bias": "vit.encoder.layer.3.attention.attention.key.bias",
                "layers.0.attention.v_proj.weight": "vit.encoder.layer.0.attention.attention.value.weight",
                "layers.5.attention.o_proj.weight": "vit.encoder.layer.5.attention.output.dense.weight",
                "layers.7.mlp.fc1.weight": "vit.encoder.layer.7.intermediate.dense.weight",
                "layers.7.mlp.fc2.bias": "vit.encoder.layer.7.output.dense.bias",
                "layers.2.layernorm_before.weight": "vit.encoder.layer.2.layernorm_before.weight",
                "layers.9.layernorm_after.bias": "vit.encoder.layer.9.layernorm_after.bias"}
    for key, ref_key in expected.items():
        assert torch.equal(ours[key], state[ref_key]), key
    # every module tensor came from a distinct reference tensor; the unused ones were left out
    used = [k for k in state if not k.startswith(("classifier.", "vit.embeddings.mask_token",
                                                  "vit.embeddings.position_embeddings",
                                                  "vit.embeddings.patch_embeddings."))]
    assert len(used) == len(ours)
    assert sorted(t.numel() for t in ours.values()) == sorted(state[k].numel() for k in used)


def test_compat_forward_matches_hand_written_reference(reference_file, sketches):
    path, state = reference_file
    module = from_reference(path)
    batch = collate(sketches, [0, 1, 2])
    with torch.no_grad():
        logits = module(batch)
        sliced = from_reference(path, num_classes=30)(batch)
    expected = torch.stack([reference_logits(state, s, heads=3, slots=196) for s in sketches])
    torch.testing.assert_close(logits, expected, atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(sliced, logits[:, :30])


def test_masked_forward_matches_hand_written_forward_on_real_strokes_only(reference_file, sketches):
    path, state = reference_file
    module = from_reference(path, config={"reference_compat": False})
    with torch.no_grad():
        logits = module(collate(sketches, [0, 1, 2]))
    expected = torch.stack([reference_logits(state, s, heads=3, slots=None) for s in sketches])
    torch.testing.assert_close(logits, expected, atol=2e-4, rtol=1e-4)
    # the padded tokens of the reference layout do change the logits
    assert not torch.allclose(logits, from_reference(path)(collate(sketches, [0, 1, 2])), atol=1e-3)


def test_bin_checkpoint_folder_with_ddp_prefix_and_config(tmp_path, sketches):
    shapes = generated_reference_shapes(hidden=48, layers=2, mlp=96, strokes=20, classes=7)
    state = random_reference_state(shapes, seed=1)
    (tmp_path / "config.json").write_text(json.dumps({"num_attention_heads": 4}))
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "pytorch_model.bin")
    module = from_reference(tmp_path)
    assert (module.num_classes, module.vit_config.num_attention_heads, module.max_strokes) == (7, 4, 20)
    assert module.encoder_config["hidden_size"] == 48 and module.encoder_config["num_layers"] == 2
    with torch.no_grad():
        logits = module(collate(sketches, [0, 1, 2]))
    expected = torch.stack([reference_logits(state, s, heads=4, slots=20) for s in sketches])
    torch.testing.assert_close(logits, expected, atol=2e-4, rtol=1e-4)


def test_reference_loader_reports_mismatches(reference_file):
    _, state = reference_file
    tiny = StrokeViT(345)
    with pytest.raises(BenchError, match="vit.bogus"):
        load_reference_state_dict(tiny, {**state, "vit.bogus.weight": torch.zeros(1)})
    with pytest.raises(BenchError, match="lacks.*vit.layernorm.bias"):
        load_reference_state_dict(tiny, {k: v for k, v in state.items() if k != "vit.layernorm.bias"})
    with pytest.raises(BenchError, match="12 layers.*num_layers=12"):
        load_reference_state_dict(StrokeViT(345, num_layers=2), state)
    with pytest.raises(BenchError, match="vit.embeddings.cls_token has shape"):
        load_reference_state_dict(StrokeViT(345, hidden_size=384, num_heads=6, mlp_size=768), state)
    with pytest.raises(BenchError, match="no order term"):
        load_reference_state_dict(StrokeViT(345, use_order=False), state)
    with pytest.raises(BenchError, match="fewer than num_classes=400"):
        from_reference(reference_file[0], num_classes=400)


def test_hub_ids_fail_offline_with_one_line_hint(tmp_path):
    """A fresh interpreter with HF_HUB_OFFLINE=1 and an empty HF cache, as on a machine without internet."""
    code = (
        "import json\n"
        "from benchmark.errors import BenchError\n"
        "from encoders.stroke_vit import StrokeViTTiny\n"
        "from encoders.stroke_vit.reference import from_reference\n"
        "out = []\n"
        "for call in (lambda: StrokeViTTiny.build(3, {'backbone': 'google/vit-base-patch16-224'}),\n"
        "             lambda: from_reference('WinKawaks/SketchXAI-Tiny-QuickDraw345')):\n"
        "    try:\n"
        "        call(); out.append(None)\n"
        "    except BenchError as exc:\n"
        "        out.append(str(exc))\n"
        "print(json.dumps(out))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    backbone, checkpoint = json.loads(proc.stdout.strip().splitlines()[-1])
    for message in (backbone, checkpoint):
        assert message is not None and "\n" not in message and "hub" in message
    assert "google/vit-base-patch16-224" in backbone and "--set backbone=" in backbone
    assert "WinKawaks/SketchXAI-Tiny-QuickDraw345" in checkpoint and "path" in checkpoint


# -- backbone initialisation ---------------------------------------------------------------------------
SMALL_VIT = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "mlp_size": 64}


@pytest.fixture(params=["ViTModel", "ViTForImageClassification"])
def vit_folder(request, tmp_path):
    """A tiny HuggingFace ViT saved with ``save_pretrained``, as a bare model or with an image
    classification head (as ``google/vit-base-patch16-224``); returns (folder, its ViTModel)."""
    import transformers

    torch.manual_seed(5)
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=64, image_size=32, patch_size=16)
    model = getattr(transformers, request.param)(config)
    model.save_pretrained(tmp_path / "vit")
    return tmp_path / "vit", getattr(model, "vit", model)


def test_backbone_from_local_folder_copies_layers_layernorm_and_cls(vit_folder):
    folder, vit = vit_folder
    torch.manual_seed(0)
    module = StrokeViTTiny.build(3, {**SMALL_VIT, "backbone": str(folder)})
    ours, theirs = module.state_dict(), vit.state_dict()
    pairs = {"cls_token": "embeddings.cls_token", "layernorm.weight": "layernorm.weight",
             "layernorm.bias": "layernorm.bias"}
    pairs.update({k: k for k in ours if k.startswith("layers.")})
    assert len(pairs) == 3 + 2 * 16
    for key, vit_key in pairs.items():
        assert torch.equal(ours[key], theirs[vit_key]), key
    torch.manual_seed(0)
    scratch = StrokeViTTiny.build(3, SMALL_VIT).state_dict()
    assert torch.equal(ours["head.weight"], scratch["head.weight"])  # the rest keeps its seeded init
    assert not torch.equal(ours["layers.0.mlp.fc1.weight"], scratch["layers.0.mlp.fc1.weight"])


def test_backbone_must_fit(vit_folder, tmp_path):
    folder, _ = vit_folder
    with pytest.raises(BenchError, match=r"num_layers=2 \(this encoder has 3\)"):
        StrokeViTTiny.build(3, {**SMALL_VIT, "num_layers": 3, "backbone": str(folder)})
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="no config.json"):
        StrokeViTTiny.build(3, {**SMALL_VIT, "backbone": str(tmp_path / "empty")})
    with pytest.raises(BenchError, match="no such folder"):
        StrokeViTTiny.build(3, {**SMALL_VIT, "backbone": str(tmp_path / "missing")})


def test_checkpoint_of_backbone_model_loads_without_the_backbone(vit_folder, tmp_path, sketches):
    folder, _ = vit_folder
    config = {**StrokeViTTiny.defaults, **SMALL_VIT, "backbone": str(folder)}
    module = StrokeViTTiny.build(3, config).eval()
    ckpt = save_checkpoint(tmp_path / "ckpt", StrokeViTTiny.name, StrokeViTTiny.version, module, config,
                           ["a", "b", "c"])
    shutil.rmtree(folder)
    loaded, info = load_checkpoint(ckpt, StrokeViTTiny)
    assert info["config"]["backbone"] == str(folder)
    batch = collate(sketches, [0, 1, 2])
    with torch.no_grad():
        assert torch.equal(loaded.eval()(batch), module(batch))


# -- module behaviour ------------------------------------------------------------------------------------
def test_sli_reuses_shape_embeddings_and_differentiates_locations(sketches, monkeypatch):
    from encoders.stroke_vit import model

    torch.manual_seed(0)
    module = StrokeViTTiny.build(4, {"num_layers": 2}).eval()
    lstm_calls = []
    real_lstm = model.bidirectional_lstm_sums
    monkeypatch.setattr(model, "bidirectional_lstm_sums", lambda *a: lstm_calls.append(1) or real_lstm(*a))
    batch = collate(sketches, [0, 1, 2])
    prepared = module.prepare_sli(batch)
    locations = batch.locations.clone().requires_grad_(True)
    for _ in range(3):  # several optimisation steps on one prepared batch
        loss = module.forward_sli(prepared, locations).logsumexp(1).sum()
        (grad,) = torch.autograd.grad(loss, locations)
        assert torch.isfinite(grad).all()
        assert (grad.abs().sum(-1) > 0).eq(batch.stroke_mask).all()  # padded strokes get no gradient
    assert len(lstm_calls) == 1


@pytest.mark.parametrize("overhead", [0, 12, 10_000])  # one chunk per stroke count ... one chunk in all
def test_packed_sli_path_equals_padded_path(overhead, monkeypatch):
    """Logits and location gradients of the packed path (chunked tokens, CLS-only last layer) match
    the padded path's, for sketches of very unequal stroke counts and a batch in no particular order."""
    from encoders.stroke_vit import packed

    monkeypatch.setattr(packed, "CHUNK_OVERHEAD_TOKENS", overhead)
    rng = np.random.default_rng(3)
    counts = [1, 7, 2, 2, 30, 1, 5, 2, 9, 3, 3, 12]
    batch = collate([sketch(rng, n, (1, 9)) for n in counts], list(range(len(counts))))
    torch.manual_seed(0)
    module = StrokeViTTiny.build(12, {"num_layers": 3}).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    prepared = module.prepare_sli(batch)
    assert isinstance(prepared, PackedStrokes)
    assert len(prepared.layout.chunks) == {0: len(set(counts)), 10_000: 1}.get(overhead, len(prepared.layout.chunks))
    locations = (batch.locations + 0.2 * torch.randn(batch.locations.shape)) * batch.stroke_mask[..., None]
    grads = []
    for forward in (lambda x: module.forward_sli(prepared, x), lambda x: module(batch.replace(locations=x))):
        x = locations.clone().requires_grad_()
        logits = forward(x)
        F.cross_entropy(logits, batch.labels).backward()
        grads.append((logits.detach(), x.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-5, rtol=1e-4)
    assert module.packs_strokes and not module.train().packs_strokes
    assert not StrokeViTTiny.build(12, {"num_layers": 1, "reference_compat": True}).eval().packs_strokes


def test_bucketed_lstm_equals_each_sequence_run_alone():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from encoders.stroke_vit.model import bidirectional_lstm_sums, length_buckets

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(4, 8, num_layers=2, batch_first=True, bidirectional=True)
    lengths = torch.tensor([1, 40, 3, 3, 17, 2, 9, 33, 1, 5, 12, 12, 26, 7, 4, 38, 2, 19, 6, 3])
    x = torch.randn(len(lengths), 40, 4) * (torch.arange(40)[None, :, None] < lengths[:, None, None])
    buckets = length_buckets(lengths)
    assert len(buckets) > 3 and sorted(torch.cat(buckets).tolist()) == list(range(len(lengths)))
    for b in buckets:
        assert lengths[b].max() * len(b) <= 1.15 * lengths[b].sum() or len(b) == 1
    got = bidirectional_lstm_sums(lstm, x, lengths)
    with torch.no_grad():
        alone = torch.stack([lstm(x[i: i + 1, :n])[0][0].sum(0) for i, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(got, alone, atol=1e-5, rtol=1e-5)
    # gradients agree with a packed-sequence LSTM
    weights = torch.randn(got.shape)
    ours = torch.autograd.grad((got * weights).sum(), list(lstm.parameters()))
    out, _ = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    packed = pad_packed_sequence(out, batch_first=True)[0].sum(1)
    for a, b in zip(ours, torch.autograd.grad((packed * weights).sum(), list(lstm.parameters()))):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_compat_mode_is_batch_independent_and_attends_padding(sketches):
    torch.manual_seed(0)
    masked = StrokeViTTiny.build(4, {"num_layers": 2}).eval()
    compat = StrokeViTTiny.build(4, {"num_layers": 2, "reference_compat": True}).eval()
    compat.load_state_dict(masked.state_dict())
    with torch.no_grad():
        alone = compat(collate(sketches[:1], [0]))
        batched = compat(collate(sketches, [0, 1, 2]))[:1]
        assert not torch.allclose(alone, masked(collate(sketches[:1], [0])), atol=1e-4)
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)


def test_shape_embedding_ignores_point_padding(sketches):
    torch.manual_seed(0)
    module = StrokeViTTiny.build(4, {"num_layers": 1})
    with torch.no_grad():
        alone = module.stroke_shapes(collate(sketches[2:], [0]))[0, :1]
        padded = module.stroke_shapes(collate(sketches, [0, 1, 2]))
    torch.testing.assert_close(padded[2, :1], alone, atol=1e-6, rtol=0)
    assert padded[2, 1:].eq(0).all()


def test_config_errors_are_clear():
    with pytest.raises(BenchError, match="encoder 'stroke_vit_tiny': unknown setting 'hidden'; did you mean: hidden_size"):
        StrokeViTTiny.build(3, {"hidden": 10})
    with pytest.raises(BenchError, match="stroke_vit_tiny_no_location"):
        StrokeViTTiny.build(3, {"use_location": False})
    with pytest.raises(BenchError, match="divisible by num_heads=5"):
        StrokeViTTiny.build(3, {"num_heads": 5})
    module = StrokeViTTiny.build(3, {"num_layers": 1, "max_strokes": 2})
    with pytest.raises(BenchError, match="3 strokes.*max_strokes=2"):
        module(collate([sketch(np.random.default_rng(0), 3, (2, 4))], [0]))


def test_no_location_ablation_ignores_locations_and_cannot_do_sli(sketches):
    assert "sli" not in StrokeViTTinyNoLocation.capabilities
    assert all("sli" in cls.capabilities for cls in ENCODERS if cls is not StrokeViTTinyNoLocation)
    module = StrokeViTTinyNoLocation.build(3, {"num_layers": 1}).eval()
    batch = collate(sketches, [0, 1, 2])
    with torch.no_grad():
        torch.testing.assert_close(module(batch), module(batch.replace(locations=batch.locations + 0.3)))


def test_parameter_count_of_tiny_matches_its_architecture():
    h, half, mlp, classes = 192, 96, 768, 345
    lstm = 2 * (4 * half * (4 + half) + 8 * half) + 2 * (4 * half * (h + half) + 8 * half)
    layer = 4 * (h * h + h) + (h * mlp + mlp) + (mlp * h + h) + 4 * h
    expected = lstm + 196 * h + 3 * h + h + 12 * layer + 2 * h + h * classes + classes
    assert StrokeViTTiny.build(classes, {}).num_parameters() == expected == 5_744_793  # reference: ~5.7M
    assert StrokeViTBase.defaults["hidden_size"] == 768 and StrokeViTBase.defaults["mlp_size"] == 3072


def test_registry_module_does_not_import_torch():
    code = "import sys, encoders.stroke_vit; assert 'torch' not in sys.modules, 'torch imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_packed_sli_trajectories_equal_the_padded_path(monkeypatch):
    """Whole SLI runs (every step's locations, target probability, final layout) through the packed
    fast path equal those through the padded forward on fixed inputs, within float tolerance."""
    from tasks.sampling import start_locations
    from tasks.sli.inversion import invert
    from tasks.sli.protocol import Protocol

    rng = np.random.default_rng(5)
    counts = [1, 4, 2, 2, 16, 3, 6, 2]
    batch = collate([sketch(rng, n, (2, 8)) for n in counts], [i % 6 for i in range(len(counts))], range(len(counts)))
    torch.manual_seed(1)
    module = StrokeViTTiny.build(6, {"num_layers": 3}).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    start = start_locations(batch, "randn", 0.1, seed=2)
    targets = (batch.labels + 1) % 6
    record = torch.ones(batch.size, dtype=torch.bool)
    runs = [invert(module, batch, start, targets, Protocol(steps=15), record)]
    monkeypatch.setattr(StrokeViT, "packs_strokes", property(lambda self: False))
    assert not isinstance(module.prepare_sli(batch), PackedStrokes)
    runs.append(invert(module, batch, start, targets, Protocol(steps=15), record))
    packed, padded = runs
    torch.testing.assert_close(packed.trajectory, padded.trajectory, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed.p_target, padded.p_target, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed.final, padded.final, atol=1e-5, rtol=1e-4)
    assert (packed.trajectory[-1] - packed.trajectory[0]).abs().amax() > 1e-3  # the layouts did move


def test_training_steps_with_the_fused_optimiser_equal_torchs_default():
    """The training loop's fused AdamW (benchmark.optim.adamw) takes the same steps as torch's default
    implementation on fixed batches (losses and weights within float tolerance; the attention key
    biases excepted: their true gradient is zero, softmax being shift-invariant, so Adam scales float
    noise to steps of size lr either way), and its state loads into the default one: a run resumed
    from an older state continues as before."""
    from benchmark.optim import adamw

    rng = np.random.default_rng(3)
    batches = [collate([sketch(rng, n, (2, 8)) for n in (1, 3, 5, 2)], [0, 1, 2, 3], range(4)) for _ in range(4)]
    weights, losses, states = {}, {}, {}
    for fused in (False, True):
        torch.manual_seed(0)
        module = StrokeViTTiny.build(4, {"num_layers": 2, "dropout": 0.0, "attention_dropout": 0.0})
        optimizer = adamw(module.parameters(), lr=1e-3, weight_decay=1e-4, fused=fused)
        assert bool(optimizer.defaults["fused"]) == fused
        losses[fused] = []
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(module(batch), batch.labels)
            loss.backward()
            optimizer.step()
            losses[fused].append(loss.item())
        weights[fused] = torch.cat([p.detach().flatten() for name, p in module.named_parameters()
                                    if not name.endswith("k_proj.bias")])
        states[fused] = optimizer.state_dict()
    assert losses[True] == pytest.approx(losses[False], abs=1e-5) and len(set(losses[True])) == len(batches)
    torch.testing.assert_close(weights[True], weights[False], atol=1e-6, rtol=1e-5)
    adamw(module.parameters(), lr=1e-3, weight_decay=1e-4, fused=False).load_state_dict(states[True])
    assert adamw(module.parameters(), lr=1e-3, weight_decay=1e-4).defaults["fused"]  # picked on CPU float32
    meta = torch.nn.Parameter(torch.empty(3, device="meta"))
    assert not adamw([meta], lr=1e-3, weight_decay=0.0).defaults["fused"]  # no fused kernel there: the default
