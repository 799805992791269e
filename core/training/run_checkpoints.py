"""A run's checkpoints: last.safetensors (at every epoch's end, on the clock within long epochs, on a stop),
best.safetensors (at every epoch end that improved the watched metric), the starting weights kept back until
a failure or stop needs them, what status.json says they hold; and resuming a run from them.

    checkpoints = RunCheckpoints(parts, position, settings, main=True, interval=10.0)
    checkpoints.resume("runs/mlp-2024…")         # or a .layerloom bundle: model, optimizer, position, …
    checkpoints.save(["last", "best"], epochs_done=3, batch=0)

The file format (safetensors, nothing unpickled) is checkpoint.py's; this module decides what goes in and when.
"""

from __future__ import annotations

import contextlib
import math
import os
import time

import torch

from layerloom.core.training.checkpoint import CheckpointError, atomic_write, checkpoint_bytes, load_checkpoint
from layerloom.core.training.outcome import TrainingError
from layerloom.core.training.run_folder import BEST, LAST, RunFolder, check_run_files
from layerloom.core.training.run_status import StatusFile
from layerloom.core.training.state import RunParts, RunPosition


class RunCheckpoints:
    """Writes the checkpoints of one run into its folder (only in the main process, only with a folder) and
    restores a run from one. `last` is the path of the last good checkpoint written."""

    def __init__(self, parts: RunParts, position: RunPosition, settings, *, main: bool, interval: float):
        self.parts: RunParts | None = parts
        self.position = position
        self.settings = settings
        self.main = main
        self.interval = interval
        self.folder: RunFolder | None = None
        self.status: StatusFile | None = None  # status.json: what the checkpoints hold, how the run ended
        self.last: str | None = None
        self.pending_start: tuple[bytes, dict] | None = None
        self.last_durable = -math.inf  # when a checkpoint was last flushed to disk
        self.next_clock_save = math.inf  # when the next checkpoint within an epoch is due
        self.last_position: tuple | None = None  # ((epochs, batch, step), durable) of the last write of last
        self.resumed: str | None = None  # what the run resumed from

    def open(self, folder: RunFolder) -> None:
        """Write into `folder` from now on. The starting weights are snapshotted now and written only if the
        run fails or stops before its first checkpoint (an fsync just before the first steps would slow them
        down): there is always a good checkpoint."""
        self.folder = folder
        if self.main and self.resumed is None:
            self.pending_start = self.snapshot(0, 0)

    # --- writing ------------------------------------------------------------------------------------

    def snapshot(self, epochs_done: int, batch: int) -> tuple[bytes, dict]:
        """The run as it is now: the bytes of a checkpoint file, and what they hold (for status.json)."""
        parts, position = self.parts, self.position
        rng = {"cpu": torch.get_rng_state(), "shuffle": parts.generator.get_state()}
        if parts.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(parts.device)
        if batch:
            rng["perm"] = position.order
        value = position.final.get(parts.metric) if batch == 0 and epochs_done > 0 else None  # these weights' metric
        held = {"epoch": epochs_done, "batch": batch, "step": position.step, "metric": parts.metric, "value": value}
        meta = {**position.to_meta(epochs_done, batch), "epochs": parts.epochs, "scheduler": self.settings.scheduler,
                "optimizer": self.settings.optimizer, "seed": parts.seed, "world_size": parts.world,
                "metric": parts.metric, "value": value}
        scheduler, scaler = parts.scheduler, parts.precision.scaler
        data = checkpoint_bytes(model_state=parts.model.state_dict(), optimizer=parts.optimizer.state_dict(),
                                scheduler=scheduler.state_dict() if scheduler is not None else None,
                                scaler=scaler.state_dict() if scaler is not None else None, rng=rng, meta=meta)
        return data, held

    def save(self, roles, epochs_done: int, batch: int, *, durable: bool = True) -> list[tuple[str, str]]:
        """Write the run as it is now as the checkpoint of each role: "last", "best", or "stop" (written as
        the last one); atomically, in this thread. last.safetensors is not written again when it already
        holds this position (unless this write must reach the disk and that one did not).
        `durable=False` leaves out the fsync. Returns [(role, path)], for the caller's CheckpointSaved events."""
        if not self.main or self.folder is None:
            return []
        roles = [roles] if isinstance(roles, str) else list(roles)
        position = (epochs_done, batch, self.position.step)
        saved = [(role, self.folder.file(BEST if role == "best" else LAST)) for role in roles]
        self.pending_start = None
        snapshot, written = None, []
        for role, path in saved:
            if role != "best" and self.last_position in ((position, True), (position, durable)):
                continue  # nothing changed since it was written
            snapshot = snapshot or self.snapshot(epochs_done, batch)
            self._write(path, snapshot, role, durable=durable, status=False)
            written.append((role, path))
            if role != "best":
                self.last = path
                self.last_position = (position, durable)
        if written and self.status is not None:  # one write for both
            self.status.checkpoints({"best" if role == "best" else "last": {"file": os.path.basename(path),
                                                                             **snapshot[1]}
                                     for role, path in written})
        if durable and snapshot is not None:
            self.last_durable = time.perf_counter()
        self.next_clock_save = time.perf_counter() + self.interval
        return saved

    def save_at_epoch_end(self, roles, *, last_epoch: bool) -> list[tuple[str, str]]:
        """The checkpoints of an epoch's end, flushed to disk after the last epoch and at most once every
        `interval` seconds otherwise."""
        if not self.main or self.folder is None:
            return []
        durable = last_epoch or time.perf_counter() - self.last_durable >= self.interval
        return self.save(roles, self.position.epochs_done, 0, durable=durable)

    def write_pending_start(self) -> None:
        """The starting weights, when no checkpoint was written yet (a failure or a stop before the first)."""
        snapshot, self.pending_start = self.pending_start, None
        if snapshot is None or self.folder is None or self.last is not None:
            return
        path = self.folder.file(LAST)
        self._write(path, snapshot, "last")
        self.last = path

    def _write(self, path: str, snapshot: tuple[bytes, dict], role: str, *, durable: bool = True,
               status: bool = True) -> None:
        """One checkpoint file, atomically, then (`status`) status.json says what it holds. The logs are written
        first, so a checkpoint is never ahead of them (resuming truncates the logs to the checkpoint, which
        would otherwise lose epochs' records)."""
        data, held = snapshot
        self.folder.write_logs(tensorboard=False)
        atomic_write(path, data, durable=durable)
        if status and self.status is not None:
            self.status.checkpoints({"best" if role == "best" else "last": {"file": os.path.basename(path), **held}})

    def end_status(self, state: str, reason: str, message: str = "") -> None:
        """status.json says how the run ended (once); unwritable, the run reads as interrupted later."""
        status, self.status = self.status, None
        if status is not None:
            with contextlib.suppress(CheckpointError):
                status.end(state, reason, message)

    def release(self) -> None:
        """Let go of the model, optimizer and snapshots (the paths and the status stay)."""
        self.parts = None
        self.pending_start = None

    # --- resuming -----------------------------------------------------------------------------------

    def resume(self, source: str, *, run_root: str | None, project_name: str, dist=None) -> str | None:
        """Continue from `source`: a run folder (its last.safetensors), a checkpoint file, or a `.layerloom`
        bundle, which the main process unpacks into a new run folder under `run_root` (none without one).
        The model, optimizer, schedule, scaler, random generators and position become the checkpoint's.
        Returns the run folder the run goes on writing into (None: none)."""
        from layerloom.core.export.bundle import is_bundle

        resume_dir: str | None = source
        if is_bundle(source):
            ckpt, resume_dir = self._bundle_checkpoint(source, run_root, project_name)
            path = resume_dir  # the run folder it was unpacked into (None without one)
        else:
            if os.path.isdir(source):
                check_run_files(source)
            path = os.path.join(source, LAST) if os.path.isdir(source) else source
            if not os.path.exists(path):
                raise TrainingError(f"{source}: there is no checkpoint to resume from ({LAST} is missing)")
            ckpt = load_checkpoint(path)
        parts = self.parts
        try:
            parts.model.load_state_dict(ckpt.model)
        except RuntimeError as err:
            first = str(err).splitlines()[1:2] or [str(err)]
            raise TrainingError(f"{path}: the checkpoint does not fit this model (was the graph changed?): "
                                f"{first[0].strip()}") from None
        if ckpt.optimizer is not None:
            try:
                parts.optimizer.load_state_dict(ckpt.optimizer)
            except (ValueError, KeyError, TypeError, IndexError, RuntimeError, AttributeError) as err:
                raise TrainingError(f"{path}: the optimizer state does not fit ({err}); resume with the optimizer "
                                    "the run used") from None
        try:
            self._restore_state(ckpt, distributed=dist is not None)
            self.position.load_meta(ckpt.meta, parts.steps_per_epoch)
        except (ValueError, KeyError, TypeError, IndexError, RuntimeError, AttributeError, OverflowError) as err:
            raise TrainingError(f"{path}: the checkpoint is damaged ({err}); resume from another one") from None
        self.resumed = path
        return resume_dir

    def _restore_state(self, ckpt, *, distributed: bool) -> None:
        """The schedule, gradient scaler, random generators and the order of a part-done epoch of a checkpoint."""
        parts, meta = self.parts, ckpt.meta
        sched, scaler = parts.scheduler, parts.precision.scaler
        if ckpt.scheduler is not None and sched is not None and meta.get("scheduler") == self.settings.scheduler:
            sched.load_state_dict(ckpt.scheduler)
            if hasattr(sched, "total_steps"):
                sched.total_steps = max(sched.total_steps, parts.epochs * parts.steps_per_epoch)
            if hasattr(sched, "T_max"):
                sched.T_max = max(1, parts.epochs)
        if ckpt.scaler is not None and scaler is not None:
            scaler.load_state_dict(ckpt.scaler)
        if "cpu" in ckpt.rng:
            torch.set_rng_state(ckpt.rng["cpu"])
        if "cuda" in ckpt.rng and parts.device.type == "cuda":
            torch.cuda.set_rng_state(ckpt.rng["cuda"], parts.device)
        if "shuffle" in ckpt.rng:
            parts.generator.set_state(ckpt.rng["shuffle"])
        if "perm" in ckpt.rng and meta.get("batch", 0) and not distributed:
            perm, n = ckpt.rng["perm"], len(parts.train)
            if perm.dtype != torch.int64 or perm.shape != (n,) or not torch.equal(perm.sort().values, torch.arange(n)):
                raise ValueError(f"its epoch order is not an order of the {n} training samples")
            self.position.resumed_order = perm

    def _bundle_checkpoint(self, source: str, run_root: str | None, project_name: str):
        """The checkpoint inside a bundle, and the run folder the run continues in: rank 0 unpacks the bundle
        into a new one under `run_root`; None without a run_root (train on in memory) and in other ranks."""
        from layerloom.core.export.bundle import bundle_to_run_folder, load_bundle

        bundle = load_bundle(source)
        if run_root is None:
            return bundle.training_checkpoint(), None
        if not self.main:
            return bundle.training_checkpoint(), source
        resume_dir = bundle_to_run_folder(bundle, run_root, project_name)
        return load_checkpoint(os.path.join(resume_dir, LAST)), resume_dir
