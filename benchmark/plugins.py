"""The plugin manager: built-ins, installed entry points and one-file plugins, loaded once, lazily.

Sources, in load order:
1. :data:`DEFAULT_PLUGINS`, the built-in modules (they use the same hooks as everyone else);
2. entry points in group ``sketchxai_bench`` of installed distributions, unless
   ``BENCH_DISABLE_PLUGIN_AUTOLOAD=1``;
3. one-file plugins: ``bench --plugin path.py`` and ``BENCH_PLUGINS`` (paths or module names,
   separated by ``os.pathsep``).

A plugin that fails to import, misspells a hook or registers the wrong thing is recorded as broken
(``bench list plugins`` shows why) and everything else keeps working. Two plugins registering the
same name is a conflict: ``bench list plugins`` shows it (the first plugin keeps the name), every other
command refuses to start, naming both. ``BENCH_DISABLE_PLUGINS=name,...`` skips single plugins (not
imported; listed as disabled). ``BENCH_TRACE_HOOKS=1`` traces hook calls on stderr.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from benchmark import hookspecs
from benchmark.config import SECTIONS
from benchmark.contracts import Dataset, Encoder, Explainer, Metric, Task
from benchmark.errors import PluginError, unknown_name

DEFAULT_PLUGINS = ("encoders", "tasks", "benchmark.data.plugin", "benchmark.tensorboard")
ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")

#: hook name -> (kind, required base class)
KINDS = {
    "encoder": ("bench_register_encoders", Encoder),
    "task": ("bench_register_tasks", Task),
    "dataset": ("bench_register_datasets", Dataset),
    "explainer": ("bench_register_explainers", Explainer),
}


@dataclass
class PluginInfo:
    """One plugin as ``bench list plugins`` shows it."""

    name: str
    source: str  # "builtin", "entrypoint", "file" or "env"
    version: str = ""
    location: str = ""
    error: str = ""
    conflict: str = ""
    disabled: bool = False
    hooks: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return ("disabled" if self.disabled else "broken" if self.error else "conflict" if self.conflict
                else "ok")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "version": self.version,
                "location": self.location, "status": self.status, "error": self.error or self.conflict,
                "hooks": self.hooks, "registered": self.registered}


@dataclass(frozen=True)
class Entry:
    """A registered class and the plugin that registered it."""

    cls: type
    plugin: str
    plugin_version: str = ""


class Manager:
    """Loads plugins and holds what they registered; build it with :func:`get_manager`."""

    def __init__(self, plugin_files: tuple[str, ...] = (), autoload: bool | None = None):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        if os.environ.get("BENCH_TRACE_HOOKS") == "1":
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()
        self.plugins: dict[str, PluginInfo] = {}
        self._registries: dict[str, dict[str, Entry]] | None = None
        #: one line per name registered by two plugins (the second is left out)
        self.conflicts: list[str] = []
        self._disabled = {n.strip() for n in os.environ.get("BENCH_DISABLE_PLUGINS", "").split(",") if n.strip()}
        if autoload is None:
            autoload = os.environ.get("BENCH_DISABLE_PLUGIN_AUTOLOAD", "") not in ("1", "true", "yes")
        from benchmark import __version__

        for module in DEFAULT_PLUGINS:
            self._load(module, "builtin", lambda m=module: importlib.import_module(m), version=__version__)
        if autoload:
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                dist = getattr(ep, "dist", None)
                self._load(ep.name, "entrypoint", ep.load, version=dist.version if dist else "",
                           location=ep.value)
        env = [p for p in os.environ.get("BENCH_PLUGINS", "").split(os.pathsep) if p.strip()]
        for spec in [*plugin_files, *env]:
            name = Path(spec).stem if spec.endswith(".py") else spec
            if name == "__init__":
                name = Path(spec).parent.name
            self._load(name, "file" if spec in plugin_files else "env", lambda s=spec: _import_spec(s),
                       location=spec)

    # -- loading ----------------------------------------------------------------------------
    def _load(self, name: str, source: str, loader, version: str = "", location: str = "") -> None:
        if name in self.plugins:
            return  # the same plugin reached twice (e.g. an entry point also given with --plugin)
        info = PluginInfo(name=name, source=source, version=version, location=location or name)
        self.plugins[name] = info
        if name in self._disabled:
            info.disabled = True
            return
        try:
            module = loader()
        except BaseException as exc:  # noqa: BLE001 - a broken plugin must not break the others
            if isinstance(exc, KeyboardInterrupt):
                raise
            info.error = f"failed to import: {_one_line(exc)}"
            return
        if self.pm.is_registered(module):  # the same module under another name (an entry point also
            del self.plugins[name]          # given with --plugin by module name): already loaded
            return
        try:
            self.pm.register(module, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            info.error = f"invalid hook implementation: {_one_line(exc)}"
            return
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(module)
            info.error = _misspelt_hook(exc)
            return
        info.hooks = sorted(c.name for c in self.pm.get_hookcallers(module) or [])
        if not info.version:
            info.version = str(getattr(module, "__version__", ""))

    # -- registries ---------------------------------------------------------------------------
    def registry(self, kind: str, conflicts_ok: bool = False) -> dict[str, Entry]:
        """``{name: Entry}`` of one kind (``encoder``, ``task``, ``dataset``), collected once; a name
        registered by two plugins raises :class:`PluginError` naming both unless ``conflicts_ok``
        (``bench list plugins``, which shows the conflict)."""
        if self._registries is None:
            self._registries = self._collect()
        if self.conflicts and not conflicts_ok:
            raise PluginError(self.conflicts[0])
        return self._registries[kind]

    def _collect(self) -> dict[str, dict[str, Entry]]:
        registries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        for plugin_name, info in self.plugins.items():
            if info.error or info.disabled:
                continue
            module = self.pm.get_plugin(plugin_name)
            staged: list[tuple[str, Entry]] = []
            try:
                for kind, (hook_name, base) in KINDS.items():
                    for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                        if impl.plugin is module:
                            impl.function(register=lambda obj, k=kind, b=base: staged.append(
                                (k, Entry(_validated(obj, k, b, plugin_name), plugin_name, info.version))))
            except PluginError as exc:
                info.error = str(exc)
                continue
            except Exception as exc:  # noqa: BLE001
                info.error = f"registration hook raised: {_one_line(exc)}"
                continue
            for kind, entry in staged:
                existing = registries[kind].get(entry.cls.name)
                if existing is not None:
                    info.conflict = (
                        f"{kind} name {entry.cls.name!r} is registered by two plugins: "
                        f"{existing.plugin!r} ({_qualname(existing.cls)}) and {plugin_name!r} "
                        f"({_qualname(entry.cls)}); uninstall one of them or disable it with "
                        f"BENCH_DISABLE_PLUGINS={plugin_name} (see `bench list plugins`)")
                    self.conflicts.append(info.conflict)
                    continue
                registries[kind][entry.cls.name] = entry
                info.registered.append(f"{kind}:{entry.cls.name}")
        self._warn_broken()
        return registries

    def _warn_broken(self) -> None:
        """A plugin asked for by name (``--plugin``, ``BENCH_PLUGINS``) that is broken is a warning
        on stderr: the command goes on without it, but not silently."""
        for info in self.plugins.values():
            if info.error and info.source in ("file", "env"):
                print(f"bench: warning: plugin {info.name!r} ({info.location}) is broken and was not loaded: "
                      f"{info.error}", file=sys.stderr)

    @property
    def encoders(self) -> dict[str, type[Encoder]]:
        return {n: e.cls for n, e in self.registry("encoder").items()}

    @property
    def tasks(self) -> dict[str, type[Task]]:
        return {n: e.cls for n, e in self.registry("task").items()}

    @property
    def datasets(self) -> dict[str, type[Dataset]]:
        return {n: e.cls for n, e in self.registry("dataset").items()}

    @property
    def explainers(self) -> dict[str, type[Explainer]]:
        return {n: e.cls for n, e in self.registry("explainer").items()}

    def explainer(self, name: str) -> type[Explainer]:
        return self.entry("explainer", name).cls

    def entry(self, kind: str, name: str) -> Entry:
        """The registered entry named ``name``, or a "did you mean" error."""
        reg = self.registry(kind)
        if name not in reg:
            hint = f"(`bench list {kind}s` lists them)"
            broken = [p for p in self.plugins.values() if p.error]
            if broken:
                hint += "; it may come from a broken plugin: " + "; ".join(
                    f"plugin {p.name!r} ({p.location}) is broken: {p.error}" for p in broken[:3])
            raise unknown_name(kind, name, reg, hint=hint)
        return reg[name]

    def encoder(self, name: str) -> type[Encoder]:
        return self.entry("encoder", name).cls

    def task(self, name: str) -> type[Task]:
        return self.entry("task", name).cls

    def dataset(self, name: str) -> type[Dataset]:
        return self.entry("dataset", name).cls

    def classifier_provider(self, encoder: str, data: str) -> type[Task]:
        """The task that trains classifiers for ``requires_trained`` tasks (hook
        ``bench_classifier_provider``), or a one-line error when no plugin provides one."""
        name = self.pm.hook.bench_classifier_provider(encoder=encoder, dataset=data)
        if name is None:
            raise PluginError(f"no plugin provides a classifier-training task for encoder {encoder!r} (hook "
                              f"bench_classifier_provider); pass --checkpoint DIR")
        return self.task(name)

    def run_defaults(self) -> dict[str, Any]:
        """What ``bench run`` runs when the command names nothing (hook ``bench_run_defaults``)."""
        return dict(self.pm.hook.bench_run_defaults() or {})

    def perf_targets(self) -> dict[str, tuple[str, str]]:
        """``{name: (module, description)}`` of the ``bench perf`` targets, in registration order."""
        targets: dict[str, tuple[str, str]] = {}

        def register(name: str, module: str, description: str = "") -> None:
            if name in targets:
                raise PluginError(f"bench perf target {name!r} is registered twice")
            targets[name] = (module, description)

        self.pm.hook.bench_register_perf_targets(register=register)
        return targets

    def plugin_versions(self) -> dict[str, str]:
        return {name: info.version for name, info in self.plugins.items() if not info.error}


def _validated(obj: Any, kind: str, base: type, plugin: str) -> type:
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise PluginError(f"plugin {plugin!r} registered {obj!r} as a {kind}, but it is not a subclass "
                          f"of benchmark.{base.__name__}")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise PluginError(f"plugin {plugin!r} registered {kind} class {_qualname(obj)} with name {name!r}; "
                          f"set a class attribute `name` (letters, digits, '_', '-', '.')")
    if kind == "task":
        if name in SECTIONS:
            raise PluginError(f"plugin {plugin!r}: task name {name!r} is reserved (a settings section); rename it")
        bad = [m for m, spec in obj.metrics.items() if not isinstance(spec, Metric)]
        if bad or not obj.metrics:
            raise PluginError(f"plugin {plugin!r}: task {name!r} must declare `metrics` as "
                              f"{{name: benchmark.Metric(higher_is_better=...)}} (problem: {bad or 'empty'})")
        for metric, spec in obj.metrics.items():
            if spec.problems():
                raise PluginError(f"plugin {plugin!r}: task {name!r} metric {metric!r}: {'; '.join(spec.problems())}")
    return obj


def _import_spec(spec: str) -> ModuleType:
    """Import a plugin from a ``.py`` path or a module name."""
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"plugin file {spec} does not exist")
        mod_name = f"bench_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def _misspelt_hook(exc: pluggy.PluginValidationError) -> str:
    import difflib

    msg = _one_line(exc)
    match = re.search(r"unknown hook '([^']+)'", msg)
    if match:
        close = difflib.get_close_matches(match.group(1), [n for n in dir(hookspecs) if n.startswith("bench_")])
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"implements unknown hook {match.group(1)!r}{hint}"
    return msg


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().replace("\n", " ")
    tb = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    if tb:
        text += f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})"
    return text


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_MANAGER: Manager | None = None
_PLUGIN_FILES: tuple[str, ...] = ()


def configure(plugin_files: tuple[str, ...] | list[str] = ()) -> None:
    """Set the one-file plugins (``--plugin``) before the manager is first built."""
    global _PLUGIN_FILES, _MANAGER
    _PLUGIN_FILES = tuple(plugin_files)
    _MANAGER = None


def get_manager() -> Manager:
    """The process-wide manager, built on first use."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = Manager(_PLUGIN_FILES)
    return _MANAGER


def reset() -> None:
    """Forget the manager (tests; a changed environment)."""
    global _MANAGER
    _MANAGER = None
