"""Training recipes of the ``recognition`` task: named defaults for epochs and learning rate, sized
to the data; used by the task's settings check and by the training loop."""

from __future__ import annotations

#: Named training recipes (``recognition.recipe``); ``epochs`` / ``lr`` set on the command win.
RECIPES = {
    "published": {"lr": 3e-4, "epochs": 20, "min_steps": 0,
                  "about": "SketchXAI's: AdamW lr 3e-4 for 20 epochs, sized for 70,000 drawings a class"},
    "auto": {"lr": 1e-3, "epochs": 20, "min_steps": 600,
             "about": "AdamW lr 1e-3 for at least 20 epochs and at least recognition.min_steps optimisation steps, "
                      "so small data gets the updates it needs"},
}


def resolve_recipe(cfg: dict, steps_per_epoch: int) -> dict:
    """The epochs and learning rate a run trains with: the recipe's, sized to ``steps_per_epoch``
    (``auto``: ``max(20, ceil(min_steps / steps_per_epoch))`` epochs), unless the command set
    ``epochs`` or ``lr``; the result is recorded (``extra.recipe``) with where each value came from."""
    recipe = RECIPES[cfg["recipe"]]
    min_steps = cfg["min_steps"] if cfg["min_steps"] is not None else recipe["min_steps"]
    sized = max(recipe["epochs"], -(-min_steps // max(steps_per_epoch, 1)))
    return {"name": cfg["recipe"], "about": recipe["about"], "steps_per_epoch": steps_per_epoch,
            "epochs": cfg["epochs"] if cfg["epochs"] is not None else sized,
            "epochs_from": "command" if cfg["epochs"] is not None else f"recipe {cfg['recipe']}",
            "lr": cfg["lr"] if cfg["lr"] is not None else recipe["lr"],
            "lr_from": "command" if cfg["lr"] is not None else f"recipe {cfg['recipe']}",
            "min_steps": min_steps}
