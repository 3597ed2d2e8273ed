"""Instrumentation loaded into every sandboxed benchmark sample (this directory is on PYTHONPATH).

It never imports a heavy library itself: a post-import hook patches torch, torch.nn.utils.prune,
optuna and nncf only when the script imports them. It records:

- Optuna: `create_study`/`load_study` default to `$MLOPS_BENCH_OPTUNA_STORAGE` (a SQLite file in the
  sandbox) when no storage is given; every study and, at exit, its trials (state, parameter names).
- torch: modules created, optimizer steps per trained root model (the topmost modules whose
  parameters an optimizer steps), every `torch.nn.utils.prune` application/removal and every
  `nncf.prune` call with the step counts at that moment, and at exit the per-layer sparsity of the
  Conv/Linear weights of the trained models, with torch prune masks and NNCF pruning masks.
- the modules imported (`sys.modules`) and the executables started with `subprocess`.

Separately, when `$MLOPS_BENCH_NETWORK_GUARD` is set (the runner sets it when it cannot give the
sample a network namespace), every socket connection or datagram to an address other than loopback
or a Unix socket raises PermissionError: a Python-level guard only (a C extension or a child program
other than Python is not stopped by it), so it is the fallback, not the isolation.

The report is written at exit (atexit) as JSON to `$MLOPS_BENCH_REPORT`. Only the process that
imported this hook first writes it: the variable is removed from `os.environ` so that child
processes (dataloader workers, `subprocess` calls) do not overwrite it. Nothing here may break a
script: every hook body is wrapped, and failures are logged to stderr and into the report.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import weakref

_REPORT_PATH = os.environ.pop("MLOPS_BENCH_REPORT", None)
_OPTUNA_STORAGE = os.environ.get("MLOPS_BENCH_OPTUNA_STORAGE")
_OWNER_PID = os.getpid()  # a forked child inherits the atexit handler; only this process reports

_errors: list[str] = []
_commands: list[str] = []


def _fail(where: str, exc: BaseException) -> None:
    message = f"{where}: {type(exc).__name__}: {exc}"
    _errors.append(message)
    try:
        sys.stderr.write(f"[mlops-bench hook] {message}\n")
    except Exception:  # stderr closed: the report still carries the message
        pass


# --------------------------------------------------------------------------- post-import hook


class _PostImportFinder:
    """Meta-path finder that runs a callback after a watched module finished executing.

    It delegates the real finding to the other finders and wraps the found loader's
    `exec_module` on that loader instance, so the module's spec and loader stay the real ones.
    """

    def __init__(self, callbacks: dict[str, object]) -> None:
        self._callbacks = callbacks
        self._busy: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):
        callback = self._callbacks.get(fullname)
        if callback is None or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        original_exec = spec.loader.exec_module

        def exec_module(module, _original=original_exec, _callback=callback, _name=fullname):
            _original(module)
            try:
                _callback(module)
            except Exception as exc:
                _fail(f"patching {_name}", exc)

        try:
            spec.loader.exec_module = exec_module
        except Exception as exc:  # a loader with slots: run unpatched rather than break the import
            _fail(f"wrapping the loader of {fullname}", exc)
        return spec


# --------------------------------------------------------------------------- torch


class _Torch:
    # every torch module alive: id -> weak reference. Not a WeakSet: that hashes the module while
    # its __init__ runs, and some modules (torchmetrics) define a __hash__ that fails before init ends.
    modules: dict[int, "weakref.ref"] = {}
    modules_created = 0
    optimizer_steps = 0
    seen_optimizers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # optimizer -> root ids
    roots: dict[int, object] = {}  # id -> trained root module (strong: report them at exit)
    root_steps: dict[int, int] = {}  # id(root) -> optimizer steps that touched it
    prune_events: list[dict] = []  # torch.nn.utils.prune applications, in order
    prune_event_modules: list[int] = []  # id(module) of each prune event, parallel to prune_events
    pruned_params: set[tuple[int, str]] = set()  # (id(module), parameter name) pruned at least once
    removed_params: set[tuple[int, str]] = set()
    pruned_modules: list[object] = []  # strong refs: ids above must stay valid until exit
    nncf_events: list[dict] = []
    nncf_models: list[object] = []


def _snapshot() -> dict:
    return {"global_steps": _Torch.optimizer_steps, "root_steps": dict(_Torch.root_steps)}


def _roots_of_optimizer(optimizer) -> list[int]:
    """The topmost live modules holding parameters this optimizer steps; remembered strongly."""
    param_ids = {id(p) for group in optimizer.param_groups for p in group.get("params", [])}
    alive = [m for m in (ref() for ref in list(_Torch.modules.values())) if m is not None]
    holders = [m for m in alive if any(id(p) in param_ids for p in m.parameters(recurse=False))]
    if not holders:
        return []
    # A root is a live module containing a holder that no other live module containing it is inside.
    containing: dict[int, object] = {}
    for module in alive:
        try:
            sub_ids = {id(s) for s in module.modules()}
        except Exception:
            continue
        if any(id(h) in sub_ids for h in holders):
            containing[id(module)] = (module, sub_ids)
    roots = []
    for mid, (module, _) in containing.items():
        if not any(mid in sub_ids and other_id != mid for other_id, (_, sub_ids) in containing.items()):
            roots.append(module)
    for module in roots:
        _Torch.roots.setdefault(id(module), module)
        _Torch.root_steps.setdefault(id(module), 0)
    return [id(m) for m in roots]


def _on_optimizer_step(optimizer, args, kwargs) -> None:
    try:
        _Torch.optimizer_steps += 1
        root_ids = _Torch.seen_optimizers.get(optimizer)
        if root_ids is None:
            root_ids = _roots_of_optimizer(optimizer)
            _Torch.seen_optimizers[optimizer] = root_ids
        for rid in root_ids:
            _Torch.root_steps[rid] = _Torch.root_steps.get(rid, 0) + 1
    except Exception as exc:
        _fail("optimizer step hook", exc)


def _patch_torch(torch) -> None:
    module_cls = torch.nn.Module
    original_init = module_cls.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        try:
            key = id(self)
            _Torch.modules[key] = weakref.ref(self, lambda _ref, key=key: _Torch.modules.pop(key, None))
            _Torch.modules_created += 1
        except Exception as exc:
            _fail("module init hook", exc)

    __init__.__wrapped__ = original_init
    module_cls.__init__ = __init__
    import importlib

    # torch.optim.optimizer is not always loaded once `torch` itself finished importing.
    importlib.import_module("torch.optim.optimizer").register_optimizer_step_post_hook(_on_optimizer_step)


def _patch_torch_prune(prune) -> None:
    base = prune.BasePruningMethod
    original_apply = base.apply.__func__

    def apply(cls, module, name, *args, **kwargs):
        result = original_apply(cls, module, name, *args, **kwargs)
        try:
            _Torch.pruned_params.add((id(module), name))
            _Torch.pruned_modules.append(module)
            _Torch.prune_event_modules.append(id(module))
            _Torch.prune_events.append({"method": getattr(cls, "__name__", str(cls)), "param": name, **_snapshot()})
        except Exception as exc:
            _fail("prune hook", exc)
        return result

    base.apply = classmethod(apply)
    original_remove = prune.remove

    def remove(module, name):
        result = original_remove(module, name)
        try:
            _Torch.removed_params.add((id(module), name))
            _Torch.pruned_modules.append(module)
        except Exception as exc:
            _fail("prune.remove hook", exc)
        return result

    prune.remove = remove


def _patch_nncf(nncf) -> None:
    original_prune = getattr(nncf, "prune", None)
    if original_prune is None:
        return

    def prune(model, *args, **kwargs):
        snapshot = _snapshot()
        result = original_prune(model, *args, **kwargs)
        try:
            _Torch.nncf_models.append(result)
            _Torch.nncf_events.append({"api": "nncf.prune", **snapshot})
        except Exception as exc:
            _fail("nncf.prune hook", exc)
        return result

    prune.__wrapped__ = original_prune
    prune.__doc__ = original_prune.__doc__
    nncf.prune = prune
    try:
        import nncf.pruning as nncf_pruning

        nncf_pruning.prune = prune
    except Exception as exc:
        _fail("patching nncf.pruning.prune", exc)


def _mask_sparsity(tensor) -> float:
    return float((tensor == 0).sum().item()) / max(1, tensor.numel())


def _layer_report(torch, root) -> tuple[list[dict], list[dict]]:
    """Per-layer sparsity of Conv/Linear weights, and the NNCF masks found inside the root."""
    from torch.nn.modules.conv import _ConvNd

    layers: list[dict] = []
    nncf_masks: list[dict] = []
    with torch.no_grad():
        for name, module in root.named_modules():
            kind = type(module).__name__
            if isinstance(module, (_ConvNd, torch.nn.Linear)):
                has_mask = hasattr(module, "weight_mask") and hasattr(module, "weight_orig")
                weight = module.weight_orig * module.weight_mask if has_mask else getattr(module, "weight", None)
                if weight is None:
                    continue
                layers.append({
                    "name": name,
                    "type": kind,
                    "numel": int(weight.numel()),
                    "sparsity": _mask_sparsity(weight),
                    "torch_mask": bool(has_mask),
                    "torch_pruned": (id(module), "weight") in _Torch.pruned_params,
                    "torch_removed": (id(module), "weight") in _Torch.removed_params,
                })
            elif type(module).__module__.startswith("nncf") and kind in ("UnstructuredPruningMask", "RBPruningMask"):
                if kind == "UnstructuredPruningMask":
                    mask = module.binary_mask
                else:
                    from nncf.torch.function_hook.pruning.rb.modules import binary_mask

                    mask = binary_mask(module.mask)
                # names look like "__nncf_hooks.post_hooks.conv1:weight__0.0" -> "conv1.weight"
                parts = name.split(".")
                target = parts[2].rsplit("__", 1)[0].replace(":", ".") if len(parts) > 2 else name
                nncf_masks.append({"name": target, "kind": kind, "numel": int(mask.numel()), "sparsity": _mask_sparsity(mask)})
    return layers, nncf_masks


def _steps_after(events: list[dict], rid: int) -> int | None:
    if not events:
        return None
    first = events[0]
    return _Torch.root_steps.get(rid, 0) - first["root_steps"].get(rid, 0)


def _torch_report() -> dict:
    torch = sys.modules.get("torch")
    report: dict = {
        "modules_created": _Torch.modules_created,
        "optimizer_steps": _Torch.optimizer_steps,
        "prune_events": _Torch.prune_events[:200],
        "prune_event_count": len(_Torch.prune_events),
        "nncf_prune_calls": len(_Torch.nncf_events),
        "models": [],
    }
    if torch is None:
        return report
    for rid, root in _Torch.roots.items():
        try:
            layers, nncf_masks = _layer_report(torch, root)
            inside = {id(m) for m in root.modules()}
            pruned_here = _prune_events_of(inside)
            nncf_here = [e for e, m in zip(_Torch.nncf_events, _Torch.nncf_models) if id(m) in inside]
            report["models"].append({
                "class": type(root).__name__,
                "steps": _Torch.root_steps.get(rid, 0),
                "layers": layers,
                "nncf_masks": nncf_masks,
                "nncf_pruned": bool(nncf_here),
                "steps_after_torch_prune": _steps_after(pruned_here, rid),
                "steps_after_nncf_prune": _steps_after(nncf_here, rid),
            })
        except Exception as exc:
            _fail(f"reporting model {type(root).__name__}", exc)
    return report


def _prune_events_of(module_ids: set[int]) -> list[dict]:
    return [e for e, mid in zip(_Torch.prune_events, _Torch.prune_event_modules) if mid in module_ids]


# --------------------------------------------------------------------------- optuna

_studies: list[object] = []


def _patch_optuna(optuna) -> None:
    import optuna.study as study_pkg
    import optuna.study.study as study_mod

    original_create = study_mod.create_study
    original_load = study_mod.load_study

    def create_study(*args, **kwargs):
        # storage is the first parameter of create_study; keyword use is the norm.
        if not args and kwargs.get("storage") is None and _OPTUNA_STORAGE:
            kwargs["storage"] = _OPTUNA_STORAGE
        study = original_create(*args, **kwargs)
        _studies.append(study)
        return study

    def load_study(*args, **kwargs):
        if len(args) < 2 and kwargs.get("storage") is None and _OPTUNA_STORAGE:
            kwargs["storage"] = _OPTUNA_STORAGE
        study = original_load(*args, **kwargs)
        _studies.append(study)
        return study

    for fn, original in ((create_study, original_create), (load_study, original_load)):
        fn.__wrapped__ = original
        fn.__doc__ = original.__doc__
        fn.__name__ = original.__name__
    for module in (optuna, study_pkg, study_mod):
        module.create_study = create_study
        module.load_study = load_study


def _optuna_report() -> dict:
    studies = []
    for study in _studies:
        try:
            trials = study.get_trials(deepcopy=False)
            studies.append({
                "name": study.study_name,
                "directions": [d.name for d in study.directions],
                "trials": [{"state": t.state.name, "params": sorted(t.params)} for t in trials],
            })
        except Exception as exc:
            _fail("reading an Optuna study", exc)
    return {"studies": studies, "storage": _OPTUNA_STORAGE}


# --------------------------------------------------------------------------- subprocess


def _install_subprocess_hook() -> None:
    import subprocess

    original_init = subprocess.Popen.__init__

    def __init__(self, args, *rest, **kwargs):
        try:
            if isinstance(args, (str, bytes)):
                argv = (args.decode() if isinstance(args, bytes) else args).split()
            else:
                argv = [os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a) for a in args]
            if argv:
                _commands.append(" ".join(argv)[:300])
        except Exception as exc:
            _fail("subprocess hook", exc)
        original_init(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = __init__


# --------------------------------------------------------------------------- report


def _write_report() -> None:
    if os.getpid() != _OWNER_PID:
        return
    report: dict = {"pid": os.getpid()}
    try:
        report["modules"] = sorted(name for name in list(sys.modules) if not name.startswith("_"))
        report["commands"] = _commands[:500]
        report["torch"] = _torch_report()
        report["optuna"] = _optuna_report()
    except Exception as exc:
        _fail("building the report", exc)
    report["errors"] = _errors
    try:
        tmp = _REPORT_PATH + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(report, f)
        os.replace(tmp, _REPORT_PATH)
    except Exception as exc:
        _fail("writing the report", exc)


def _install() -> None:
    callbacks = {
        "torch": _patch_torch,
        "torch.nn.utils.prune": _patch_torch_prune,
        "optuna": _patch_optuna,
        "nncf": _patch_nncf,
    }
    sys.meta_path.insert(0, _PostImportFinder(callbacks))
    _install_subprocess_hook()
    atexit.register(_write_report)


if _REPORT_PATH:
    try:
        _install()
    except Exception as _exc:
        _fail("installing the hook", _exc)


# --------------------------------------------------------------------------- network guard

_GUARD_MESSAGE = "network access is disabled in the benchmark sandbox"


def _is_loopback(family, address) -> bool:
    import ipaddress
    import socket

    if family == getattr(socket, "AF_UNIX", None):
        return True
    if family not in (socket.AF_INET, socket.AF_INET6):
        return False  # raw, packet, netlink...: refused
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: would need DNS, which is outside too


def _install_network_guard() -> None:
    import socket

    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto

    def refuse(sock, address) -> None:
        if not _is_loopback(sock.family, address):
            raise PermissionError(13, f"{_GUARD_MESSAGE}: {address!r}")

    def connect(self, address):
        refuse(self, address)
        return original_connect(self, address)

    def connect_ex(self, address):
        refuse(self, address)
        return original_connect_ex(self, address)

    def sendto(self, data, *args):
        refuse(self, args[-1])
        return original_sendto(self, data, *args)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto


if os.environ.get("MLOPS_BENCH_NETWORK_GUARD"):
    try:
        _install_network_guard()
    except Exception as _exc:
        _fail("installing the network guard", _exc)
