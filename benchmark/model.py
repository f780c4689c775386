"""Base class of the torch module an :class:`benchmark.Encoder` builds."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from benchmark.batch import StrokeBatch


class EncoderModule(nn.Module):
    """A sketch classifier: ``module(batch) -> logits`` of shape ``(B, num_classes)``.

    Stroke location inversion calls :meth:`prepare_sli` once per batch and then
    :meth:`forward_sli` at every optimisation step; override both to cache work that does not
    depend on stroke locations (e.g. stroke shape embeddings). The defaults simply re-run
    :meth:`forward` with the new locations. A module whose :meth:`forward_sli` does no work for
    padded strokes (it groups sketches by stroke count itself) sets :attr:`packs_strokes`, and
    callers then need not split batches by stroke count.
    """

    packs_strokes: bool = False

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = int(num_classes)

    def forward(self, batch: StrokeBatch) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare_sli(self, batch: StrokeBatch) -> Any:
        """Location-independent state for :meth:`forward_sli` (default: the batch itself)."""
        return batch

    def forward_sli(self, prepared: Any, locations: torch.Tensor) -> torch.Tensor:
        """Logits for the prepared batch with stroke start points ``locations`` ``(B, S, 2)``."""
        return self(prepared.replace(locations=locations))

    def randomisation_layers(self) -> list[tuple[str, nn.Module]]:
        """The layers a cascading randomisation re-initialises, input side first (the
        ``sanity_randomisation`` task randomises them from the last one down). Default: the direct
        children that hold parameters, in registration order, with ``ModuleList`` / ``Sequential``
        children expanded into their elements. Override where registration order is not the data
        flow."""
        out = []
        for name, child in self.named_children():
            parts = (list(child.named_children()) if isinstance(child, (nn.ModuleList, nn.Sequential))
                     else [("", child)])
            for sub, module in parts:
                if any(True for _ in module.parameters()):
                    out.append((f"{name}.{sub}" if sub else name, module))
        return out

    def num_parameters(self) -> int:
        """Number of trainable parameters (each shared tensor counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def freeze(model: EncoderModule) -> EncoderModule:
    """Eval mode and no parameter gradients, in place: the model explanations and stroke location
    inversion differentiate with respect to their inputs only."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def fresh_module(encoder_cls, num_classes: int, config: dict[str, Any], seed: int,
                 device: torch.device | str = "cpu") -> EncoderModule:
    """``encoder_cls``'s module for ``config`` at fresh random weights, the one way the harness
    builds one (the random-weights control of SLI and attribution, the settings guards, the
    validation ladder's random rung): the settings in ``encoder_cls.init_only`` (those that only
    choose initial weights, e.g. a pretrained backbone to download) at the encoder's defaults, so
    the weights are the encoder's default initialisation; ``torch.manual_seed(seed)`` first, so the
    same ``(config, seed)`` gives the same weights; on ``device``, in eval mode."""
    config = dict(config)
    config.update({k: encoder_cls.defaults.get(k) for k in getattr(encoder_cls, "init_only", ()) if k in config})
    torch.manual_seed(seed)
    return encoder_cls.build(num_classes, config).to(device).eval()
