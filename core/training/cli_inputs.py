"""What `layerloom train` reads and checks before a run starts: the flags, the project and its settings, the
data, whether they fit, and the checkpoint to resume. Each refusal is a BadInput with the exit status.

    project, settings, prepared = prepare(args, ctx, out)   # raises BadInput (or LayerloomError)
"""

from __future__ import annotations

import contextlib
import os

from layerloom.core.errors import LayerloomError

# flags that override a training setting: flag → setting name
_OVERRIDES = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "optimizer": "optimizer",
              "device": "device", "seed": "seed", "threads": "threads"}
_FLAG = {"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr", "optimizer": "--optimizer",
         "device": "--device", "seed": "--seed", "threads": "--threads"}


class BadInput(LayerloomError):
    """Input the command refuses; `status` is the exit status (1: a file or the data, 2: the command line)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def prepare(args, ctx, out):
    """Everything before the run: (project, settings, prepared data). `ctx` is the distributed context (or None),
    `out` the command's Output (notes, download progress). BadInput or LayerloomError when something is refused."""
    main = ctx is None or ctx.is_main
    check_paths(args, probe=main)  # only rank 0 writes the run folder (and probes for it)
    project, settings = project_and_settings(args)
    if ctx is not None:
        try:
            ctx.init(settings.device)
        except RuntimeError as err:
            raise BadInput(f"distributed training cannot start: {err}") from None
    prepared = load_run_data(args, project, settings, ctx, out)
    check_fit(prepared, project)
    record_data(args, project)
    if args.resume and not os.path.exists(args.resume):
        raise BadInput(f"{args.resume}: the run folder to resume does not exist")
    check_resume(args.resume, project)
    return project, settings, prepared


def check_paths(args, probe: bool = True) -> None:
    """The flags that name data and folders: never empty, and --out a folder the run folder can go in."""
    for attr, flag in (("data", "--data"), ("val_data", "--val-data"), ("out", "--out"), ("resume", "--resume")):
        value = getattr(args, attr, None)
        if value is not None and not str(value).strip():
            what = {"data": "a data set name such as 'digits' or the path of a data file (or leave --data out to "
                            "train on the project's data)",
                    "val_data": "the path of a validation data file (or leave --val-data out)",
                    "out": "the folder the run folders go in (default: runs)",
                    "resume": "the run folder to resume (or leave --resume out)"}[attr]
            raise BadInput(f"{flag} is empty; give {what}", status=2)
    check_out(args.out, probe)


def check_out(out: str, probe: bool = True) -> None:
    """--out must be a folder that exists or can be made, and that can be written to: checked before anything
    is loaded, so a run never starts without a place for its checkpoints."""
    import stat
    import tempfile

    try:
        mode = os.stat(out).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISDIR(mode):
        kind = "a file" if stat.S_ISREG(mode) else "a device or pipe"
        raise BadInput(f"--out {out} is {kind}, not a folder; give the folder the run folders go in (it is created "
                       "when missing)", status=2)
    if not probe:
        return
    made: list[str] = []  # the folders this check makes, removed again: nothing is left before the run starts
    try:
        missing, parent = [], os.path.abspath(out)
        while not os.path.exists(parent) and os.path.dirname(parent) != parent:
            missing.append(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(missing):
            os.mkdir(folder)
            made.append(folder)
        os.rmdir(tempfile.mkdtemp(prefix=".layerloom-write-check-", dir=out))
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise BadInput(f"--out {out}: a run folder cannot be made there ({reason}); choose a folder you can write "
                       "to") from None
    finally:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def project_and_settings(args):
    """The project (a project file, or a bundle to train on from) and its training settings with the flags
    applied; refused when a setting is not valid or the network has errors."""
    from layerloom.core.errors import ProjectError
    from layerloom.core.project import load_project
    from layerloom.core.settings import TrainingSettings

    if not os.path.exists(args.file):
        raise BadInput(f"{args.file}: the project file does not exist")
    try:
        from layerloom.core.opening import BUNDLE, sniff

        if sniff(args.file) == BUNDLE:  # a bundle (told apart by content): train on from its weights
            from layerloom.core.export.bundle import load_bundle

            project = load_bundle(args.file).project
            if getattr(args, "resume", None) is None:
                args.resume = args.file
        else:
            project = load_project(args.file)
    except ProjectError as err:
        raise BadInput(str(err)) from None
    except LayerloomError as err:
        raise BadInput(str(err)) from None
    values = project.training.to_dict()
    for attr, setting in _OVERRIDES.items():
        v = getattr(args, attr, None)
        if v is not None:
            values[setting] = v
    problems: list[str] = []
    settings = TrainingSettings.from_dict(values, problems)
    if problems:
        raise BadInput(flag_words(problems, args), status=2)
    report_errors = graph_errors(project.graph)
    if report_errors:
        raise BadInput(f"{args.file}: the network has errors and cannot be trained:\n"
                       + "\n".join(f"  - {m}" for m in report_errors))
    return project, settings


def flag_words(problems: list[str], args) -> str:
    """'lr must be a positive number (got -1.0)' → '--lr must be …' when the value came from a flag."""
    out = []
    for p in problems:
        name = p.split(" ", 1)[0]
        flag = _FLAG.get(name)
        if flag is not None and getattr(args, name, None) is not None:
            p = flag + p[len(name):]
        else:
            p = f"{args.file}: training.{p}"
        out.append(p)
    return "\n".join(out) if len(out) == 1 else "the settings are not valid:\n" + "\n".join(f"  - {p}" for p in out)


def graph_errors(graph) -> list[str]:
    """Why the network cannot be trained, in plain words (empty when it can)."""
    from layerloom.core.inference import infer

    report = infer(graph)
    problems = [p.message for p in report.errors]
    if not any(n.type == "Output" for n in graph):
        problems.append("the network has no Output block, so there is nothing to train")
    if not any(n.type == "Input" for n in graph):
        problems.append("the network has no Input block")
    return problems


def record_data(args, project) -> None:
    """The run records the data it trained on: `--data` replaces the project's source (and its options,
    which were not used), so the run folder's project, settings and preprocessing agree."""
    if args.data and args.data != project.data.source:
        from layerloom.core.settings import DataSettings

        project.data = DataSettings(source=os.path.abspath(args.data) if os.path.exists(args.data) else args.data,
                                    options={})


def load_run_data(args, project, settings, ctx, out):
    """The prepared data of --data (or the project's data); under torchrun rank 0 loads first (it may download)."""
    from layerloom.core.data import DataError, load_data

    source = args.data or project.data.source
    options = dict(project.data.options) if source == project.data.source else {}

    def load():
        try:
            return load_data(source, options, val_fraction=settings.val_fraction, seed=settings.seed,
                             val_source=args.val_data, progress=out.download_progress)
        except DataError as err:
            raise BadInput(str(err)) from None
        except FileNotFoundError as err:
            raise BadInput(f"{err.filename or source}: the data file does not exist") from None
        except Exception as err:  # worded by core/errors_text.py; a bug goes on to the last resort
            from layerloom.core.errors_text import is_bug, plain

            if is_bug(err):
                raise
            raise BadInput(plain(err, source)) from None

    if ctx is None:
        return load()
    import torch.distributed as dist

    # rank 0 first (it may download into the cache), then the others read the cache
    prepared = load() if ctx.is_main else None
    dist.barrier()
    return prepared if prepared is not None else load()


def check_resume(resume: str | None, project) -> None:
    """The checkpoint to resume from must fit the network: every weight by name, shape and dtype, read from the
    checkpoint's header alone. (Bundles are checked when they are opened.)"""
    from layerloom.core.export.bundle import is_bundle

    if not resume or is_bundle(resume):
        return
    from layerloom.core.errors import CompileError
    from layerloom.core.export.safetensors_header import HeaderError, read_header
    from layerloom.core.export.weights import fit_problems, header_state
    from layerloom.core.training.run_folder import LAST

    path = os.path.join(resume, LAST) if os.path.isdir(resume) else resume
    if not os.path.exists(path):
        return  # the trainer says which file is missing
    try:
        problems = fit_problems(project.graph, header_state(read_header(path), "model."))
    except HeaderError as err:
        raise BadInput(f"{path}: is not a readable checkpoint ({err})") from None
    except CompileError:
        return
    if problems:
        raise BadInput(f"{path}: the checkpoint does not fit the network (was the graph changed?):\n"
                       + "\n".join(f"  - {p}" for p in problems[:20]))


def check_fit(prepared, project) -> None:
    """The data must fit the network: its inputs and targets against the Input and Output blocks."""
    from layerloom.core.data import check_against_graph

    try:
        problems = check_against_graph(prepared.info, project.graph)
    except LayerloomError as err:
        problems = [str(err)]
    if problems:
        raise BadInput("the data does not fit the network:\n" + "\n".join(f"  - {p}" for p in problems))
